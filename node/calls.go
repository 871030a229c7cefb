package node

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/presence"
	"github.com/peercall/peercall/reach"
)

// dialTimeout bounds the libp2p dial of a looked-up peer.
const dialTimeout = 10 * time.Second

// Lookup finds username: the DHT, then the directory, then the host cache
// (presence.Resolver).
func (n *Node) Lookup(ctx context.Context, username string) (*presence.PeerInfo, error) {
	return n.resolve.Lookup(ctx, username)
}

// reachPeer is the call manager's Resolve: look the user up and connect to
// their node.
func (n *Node) reachPeer(ctx context.Context, username string) (call.Peer, error) {
	start := time.Now()
	info, err := n.Lookup(ctx, username)
	if err != nil {
		return call.Peer{}, err
	}
	found := time.Now()
	if info.PeerID != n.host.ID() {
		if err := n.connect(ctx, info); err != nil {
			return call.Peer{}, err
		}
	}
	n.log.Info("callee reached", "user", info.Username, "source", info.Source, "lookup", found.Sub(start).Round(time.Millisecond),
		"connect", time.Since(found).Round(time.Millisecond), "addrs", len(info.Addrs))
	return call.Peer{Username: info.Username, ID: info.PeerID}, nil
}

// connect dials info's peer (the addresses found, plus any the peerstore
// already has), and through the super-nodes' circuits when the direct
// addresses do not answer. A peer that cannot be reached is reported
// offline.
//
// A peer behind a NAT publishes its circuit address through its
// super-node besides its LAN addresses: those are dialled only after the
// circuit failed (dials to a private address outside
// network.reachable_ranges time out, seconds, from outside that LAN), and
// a connection through the super-node is enough (signalling only; media
// finds its own path), so the dial ends as soon as it is up. libp2p dials
// the direct addresses first (relays 500 ms later), so a public one that
// answers still wins.
func (n *Node) connect(ctx context.Context, info *presence.PeerInfo) error {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	// info's certificate is verified (lookup or cache): its parallel
	// dials (circuits, public addresses) get a certified peer's budget
	// rather than an uncertified one's 2 outbound connections.
	defer n.adm.Expect(info.PeerID)()
	var err error
	if first, later := n.splitAddrs(info.Addrs); hasCircuit(first) {
		ps := n.host.Peerstore()
		if n.host.Network().Connectedness(info.PeerID) != network.Connected {
			ps.ClearAddrs(info.PeerID) // what identify or the DHT left: LAN addresses too
		}
		ps.AddAddrs(info.PeerID, first, peerstore.TempAddrTTL)
		err = n.host.Connect(network.WithAllowLimitedConn(dctx, "signalling through the callee's super-node"), peer.AddrInfo{ID: info.PeerID})
		if err != nil && len(later) > 0 {
			ps.AddAddrs(info.PeerID, later, peerstore.TempAddrTTL)
			err = n.host.Connect(dctx, peer.AddrInfo{ID: info.PeerID})
		}
	} else {
		if len(info.Addrs) > 0 {
			n.host.Peerstore().AddAddrs(info.PeerID, info.Addrs, peerstore.TempAddrTTL)
		}
		err = n.host.Connect(dctx, peer.AddrInfo{ID: info.PeerID})
	}
	if err != nil {
		// Behind a NAT, the peer is reached through a super-node.
		rctx, rcancel := context.WithTimeout(ctx, dialTimeout)
		defer rcancel()
		if rerr := n.relay.ConnectThroughCircuits(rctx, info.PeerID); rerr != nil {
			return fmt.Errorf("%w: %s (peer %s, found in the %s) does not answer: %w (nor through a super-node: %v)",
				presence.ErrUserOffline, info.Username, info.PeerID, info.Source, err, rerr)
		}
	}
	n.cache.Remember(info.PeerID, info.Certificate, n.now())
	return nil
}

// splitAddrs splits a peer's addresses into those worth dialling first
// (circuit addresses, and those reachable from anywhere: public, or in
// network.reachable_ranges) and the rest (private LAN addresses).
func (n *Node) splitAddrs(addrs []ma.Multiaddr) (first, later []ma.Multiaddr) {
	ranges, _ := reach.ParseRanges(n.cfg.Network.ReachableRanges) // validated with the config
	for _, a := range addrs {
		if reach.IsCircuit(a) || ranges.Counts(a) {
			first = append(first, a)
		} else {
			later = append(later, a)
		}
	}
	return first, later
}

// hasCircuit reports whether addrs hold a circuit relay address.
func hasCircuit(addrs []ma.Multiaddr) bool {
	for _, a := range addrs {
		if reach.IsCircuit(a) {
			return true
		}
	}
	return false
}

// Call calls username and blocks until the call ends (call.Manager.Call).
func (n *Node) Call(ctx context.Context, username string, o call.Options) (*call.Result, error) {
	return n.calls.Call(ctx, username, o)
}

// Calls returns the calls going on.
func (n *Node) Calls() []call.Info { return n.calls.Calls() }

// RecentCalls returns the latest ended calls, oldest first.
func (n *Node) RecentCalls() []call.Result { return n.calls.Recent() }

// Answer accepts the ringing incoming call id ("" for the only call).
func (n *Node) Answer(id string) error { return n.calls.Answer(id) }

// Reject declines the ringing incoming call id ("" for the only call).
func (n *Node) Reject(id string) error { return n.calls.Reject(id) }

// Hangup ends the call id ("" for the only call) and waits for its end.
func (n *Node) Hangup(ctx context.Context, id string) error { return n.calls.Hangup(ctx, id) }

// RestartICE renews the network path of the active call id.
func (n *Node) RestartICE(ctx context.Context, id string) error { return n.calls.RestartICE(ctx, id) }

// SetCallMedia mutes, unmutes, holds or resumes the call id (call.Manager.SetMedia).
func (n *Node) SetCallMedia(ctx context.Context, id string, op call.MediaOp) (call.Info, error) {
	return n.calls.SetMedia(ctx, id, op)
}

// Status reports the node's identity, role, reachability and calls.
func (n *Node) Status() control.Status {
	rs := n.relay.Status()
	st := control.Status{
		Username:     n.user,
		PeerID:       n.host.ID().String(),
		Role:         string(rs.Role),
		RoleReason:   rs.RoleReason,
		Reachability: string(rs.Reachability),
		Relay:        rs.Relay,
		Calls:        n.Calls(),
		Identity:     n.identity(),
	}
	st.TransferRules = n.TransferRules()
	n.softStatus(&st)
	for _, a := range n.presenceAddrs() {
		st.Addrs = append(st.Addrs, a.String())
	}
	select {
	case <-n.presenceCh:
		st.Presence = "published"
	default:
		st.Presence = "pending"
	}
	if n.opts.NoPresence {
		st.Presence = "not published (a node run for one call)"
		return st
	}
	if err := n.PresenceError(); err != nil {
		st.Presence = "failing: " + err.Error()
		if len(n.host.Network().Peers()) == 0 {
			st.Presence = "waiting for a first peer to store it (none connected yet)"
		}
	}
	return st
}
