package node

// Status is what `peercall status --json` prints.
type Status struct {
	Username     string      `json:"username"`
	PeerID       string      `json:"peer_id"`
	Role         string      `json:"role"`
	RoleReason   string      `json:"role_reason"`
	Reachability string      `json:"reachability"`
	Relay        RelayStatus `json:"relay"`
	Calls        []CallInfo  `json:"calls"`
	Addrs        []string    `json:"addrs"`
	Presence     string      `json:"presence"`
}

// RelayStatus is the super-node part of Status (RelayManager.Status):
// zero counters until the node first becomes a super-node.
type RelayStatus struct {
	Sessions     int         `json:"sessions"`
	BytesRelayed uint64      `json:"bytes_relayed"`
	Kbps         float64     `json:"kbps"`
	Limits       RelayLimits `json:"limits"`
}

// RelayLimits are the super-node's caps (zero: not relaying).
type RelayLimits struct {
	MaxSessions int     `json:"max_sessions"`
	MaxKbps     float64 `json:"max_kbps"`
}

// Status reports the node's identity, role and calls.
func (n *Node) Status() Status {
	st := Status{
		Username:     n.user,
		PeerID:       n.host.ID().String(),
		Role:         "client",
		RoleReason:   "this version does not relay for others yet (no super-node support)",
		Reachability: "unknown",
		Calls:        n.Calls(),
	}
	if n.relay != nil {
		st.Role, st.RoleReason, st.Reachability, st.Relay = n.relay.Status()
	}
	for _, a := range n.presenceAddrs() {
		st.Addrs = append(st.Addrs, a.String())
	}
	select {
	case <-n.presenceCh:
		st.Presence = "published"
	default:
		st.Presence = "pending"
	}
	if err := n.PresenceError(); err != nil {
		st.Presence = "failing: " + err.Error()
		if len(n.host.Network().Peers()) == 0 {
			st.Presence = "waiting for a first peer to store it (none connected yet)"
		}
	}
	return st
}
