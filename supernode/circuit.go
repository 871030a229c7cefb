package supernode

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	circuitclient "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/internal/brief"
	"github.com/peercall/peercall/reach"
)

// Circuit reservation timings.
const (
	// reserveTimeout bounds one reservation request.
	reserveTimeout = 10 * time.Second
	// reserveRenew renews a reservation this long before it expires.
	reserveRenew = 5 * time.Minute
)

// circuitState is a node's circuit relay v2 reservation: while a dial-back
// has not proved it reachable (behind a NAT or a firewall), the node holds
// a reservation at its fastest super-node, so that others reach it through
// /p2p/SUPER-NODE/p2p-circuit for signalling.
type circuitState struct {
	mu      sync.Mutex
	relay   peer.ID
	addrs   []ma.Multiaddr // full circuit addresses of this node
	expires time.Time
}

// keepReservation holds a reservation while the node is neither reachable
// nor a super-node, renewing it before it expires and moving to another
// super-node when its relay goes away; otherwise it forgets it (the
// reservation then lapses at the super-node).
func (m *Manager) keepReservation(ctx context.Context, reachable, promoted bool) {
	c := &m.rsv
	if reachable || promoted {
		c.mu.Lock()
		had := c.relay
		c.relay, c.addrs, c.expires = "", nil, time.Time{}
		c.mu.Unlock()
		if had != "" {
			m.log.Info("circuit reservation dropped: this node is reachable directly", "relay", had)
			m.circuitChanged()
		}
		return
	}
	c.mu.Lock()
	cur, exp := c.relay, c.expires
	c.mu.Unlock()
	if cur != "" && m.h.Network().Connectedness(cur) == network.Connected && time.Until(exp) > reserveRenew {
		return
	}
	order := m.SuperNodes()
	if cur != "" { // renew at the same super-node first
		order = append([]Choice{{Relay: cur}}, order...)
	}
	var why []string
	for _, s := range order {
		if s.Relay == m.h.ID() || (s.Relay == cur && len(why) > 0) {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, reserveTimeout)
		rsvp, err := circuitclient.Reserve(rctx, m.h, peer.AddrInfo{ID: s.Relay, Addrs: m.h.Peerstore().Addrs(s.Relay)})
		cancel()
		if err != nil {
			why = append(why, fmt.Sprintf("%s: %v", brief.ID(s.Relay), err))
			continue
		}
		addrs := circuitAddrs(s.Relay, rsvp.Addrs)
		c.mu.Lock()
		c.relay, c.addrs, c.expires = s.Relay, addrs, rsvp.Expiration
		c.mu.Unlock()
		if s.Relay != cur {
			m.log.Info("reachable through a super-node (circuit relay reservation)", "relay", s.Relay, "addrs", addrs, "expires", rsvp.Expiration)
			m.circuitChanged()
		}
		return
	}
	if len(why) > 0 {
		m.log.Info("no circuit relay reservation", "why", brief.List(why, 3))
	}
}

// circuitAddrs turns a relay's addresses into this node's circuit
// addresses through it (the node's own /p2p/ suffix is left to the dialer).
func circuitAddrs(relayID peer.ID, relayAddrs []ma.Multiaddr) []ma.Multiaddr {
	suffix := ma.StringCast("/p2p/" + relayID.String() + "/p2p-circuit")
	var out []ma.Multiaddr
	for _, a := range relayAddrs {
		if reach.IsCircuit(a) {
			continue
		}
		if id, err := a.ValueForProtocol(ma.P_P2P); err == nil && id == relayID.String() {
			a, _ = ma.SplitLast(a)
		}
		out = append(out, a.Encapsulate(suffix))
	}
	return out
}

// CircuitAddrs are this node's addresses through its super-node
// reservation (none without one).
func (m *Manager) CircuitAddrs() []ma.Multiaddr {
	m.rsv.mu.Lock()
	defer m.rsv.mu.Unlock()
	if time.Now().After(m.rsv.expires) {
		return nil
	}
	return append([]ma.Multiaddr(nil), m.rsv.addrs...)
}

// ConnectThroughCircuits dials id through each known super-node's circuit
// relay (/p2p/SUPER-NODE/p2p-circuit), for a peer whose direct addresses
// do not answer: a node behind a NAT holds a reservation at one of them.
// The connection is limited (signalling only); callers open streams on it
// with network.WithAllowLimitedConn.
func (m *Manager) ConnectThroughCircuits(ctx context.Context, id peer.ID) error {
	var addrs []ma.Multiaddr
	for _, s := range m.SuperNodes() {
		if s.Relay != id && s.Relay != m.h.ID() {
			addrs = append(addrs, ma.StringCast("/p2p/"+s.Relay.String()+"/p2p-circuit"))
		}
	}
	if len(addrs) == 0 {
		return errors.New("no super-node known to relay through")
	}
	m.h.Peerstore().AddAddrs(id, addrs, peerstore.TempAddrTTL)
	ctx = network.WithAllowLimitedConn(ctx, "signalling through a super-node")
	return m.h.Connect(ctx, peer.AddrInfo{ID: id, Addrs: addrs})
}

// circuitChanged tells the node that CircuitAddrs changed, so that its
// presence announces them at once.
func (m *Manager) circuitChanged() {
	if m.onCircuit != nil {
		m.onCircuit()
	}
}
