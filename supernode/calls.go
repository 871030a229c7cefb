package supernode

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/internal/brief"
	"github.com/peercall/peercall/reach"
)

// CallRelay picks the TURN servers of a call to or from callee: the
// fastest willing super-node's, with fresh credentials. Without one the
// call tries direct paths only (no servers, no error), unless force or a
// restricted network asks for a relay, which then fails with an error
// wrapping ErrNoRelay. relayOnly says whether the call must use relay
// candidates only; behind a 443-only firewall only the TCP/TLS URLs are
// kept.
func (m *Manager) CallRelay(ctx context.Context, callee peer.ID, force bool) (servers []webrtc.ICEServer, relayID peer.ID, relayOnly bool, err error) {
	restricted := m.Restricted()
	force = force || restricted
	cands := m.relayCandidates(ctx, callee, force)
	var standby <-chan Choice
	if force && len(cands) > 1 {
		standby = m.standbyRelay(ctx, cands[1:])
	}
	ch, err := m.pickFrom(ctx, cands)
	if err != nil {
		if force {
			return nil, "", true, fmt.Errorf("the call must go through a relay (--force-relay, or a restricted network): %w", err)
		}
		m.log.Info("no relay (TURN) for this call; trying direct paths only", "err", err)
		return nil, "", false, nil
	}
	servers = ch.Servers
	if sb, ok := waitStandby(standby, ch.Relay); ok {
		servers = append(slices.Clip(servers), sb.Servers...)
		m.log.Debug("standby relay for the call", "relay", brief.ID(ch.Relay), "standby", brief.ID(sb.Relay))
	}
	if f := tcpTURNOnly(servers); restricted && len(f) > 0 {
		servers = f
	}
	return servers, ch.Relay, force, nil
}

// A relay-only call also holds a standby relay: TURN credentials of a
// second super-node, asked at the same time as the first's. The session
// allocates on both, so ICE has a working pair through the second ready
// when the first dies (media's path switch, docs/architecture.md "Relay
// failover"). The standby is a TURN allocation like any other: it counts
// against that super-node's max_sessions and max_sessions_per_user, and a
// super-node at its limits refuses it as it would a call.
const (
	// standbyGrace is how long after the first super-node's credentials
	// the standby's are waited for: a slow second super-node does not
	// delay the call, which then has no standby.
	standbyGrace = 150 * time.Millisecond
)

// standbyRelay asks cands in order for a standby relay's credentials, in
// a goroutine that ends with ctx or its answer (buffered: never blocks).
func (m *Manager) standbyRelay(ctx context.Context, cands []candidate) <-chan Choice {
	out := make(chan Choice, 1)
	go func() {
		ch, err := m.pickFrom(ctx, cands)
		if err != nil {
			m.log.Debug("no standby relay for the call", "err", err)
			ch = Choice{}
		}
		out <- ch
	}()
	return out
}

// waitStandby waits at most standbyGrace for the standby's credentials
// and returns them unless they are primary's own.
func waitStandby(c <-chan Choice, primary peer.ID) (Choice, bool) {
	if c == nil {
		return Choice{}, false
	}
	t := time.NewTimer(standbyGrace)
	defer t.Stop()
	select {
	case ch := <-c:
		return ch, ch.Relay != "" && ch.Relay != primary
	case <-t.C:
		return Choice{}, false
	}
}

// tcpTURNOnly drops TURN-over-UDP URLs: behind a firewall that lets out
// only TCP 443 their allocations can only time out, and ICE gathering
// would wait for them before the TCP/TLS ones count. A server left with no
// URL is dropped.
func tcpTURNOnly(servers []webrtc.ICEServer) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, s := range servers {
		var urls []string
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turns:") || strings.Contains(u, "transport=tcp") {
				urls = append(urls, u)
			}
		}
		if len(urls) > 0 {
			s.URLs = urls
			out = append(out, s)
		}
	}
	return out
}

// Replace forgets the super-node dead (it stopped answering) and asks the
// next for TURN credentials for a call with callee; with need, a lookup of
// super-nodes is waited for when none is known. It fails, wrapping
// ErrNoRelay, when only dead answered.
func (m *Manager) Replace(ctx context.Context, callee, dead peer.ID, need bool) ([]webrtc.ICEServer, peer.ID, error) {
	if dead != "" && dead != m.h.ID() {
		m.finder.drop(dead)
	}
	ch, err := m.PickRelay(ctx, callee, need)
	if err != nil {
		return nil, "", err
	}
	if ch.Relay == dead {
		return nil, "", fmt.Errorf("%w: only the lost super-node %s answered", ErrNoRelay, brief.ID(dead))
	}
	return ch.Servers, ch.Relay, nil
}

// Alive reports whether super-node p answers a libp2p ping within timeout.
func (m *Manager) Alive(ctx context.Context, p peer.ID, timeout time.Duration) bool {
	if p == m.h.ID() {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case res := <-ping.Ping(ctx, m.h, p):
		return res.Error == nil
	case <-ctx.Done():
		return false
	}
}

// SuperNodeAt names the super-node whose TURN server relays at addr
// (host:port of a relay candidate): the one known super-node, this node
// included, with an address on that IP. It returns "" when none is known
// there, or when several share the IP (on one machine, say) and the
// address cannot tell them apart.
func (m *Manager) SuperNodeAt(addr string) peer.ID {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	ip = ip.Unmap()
	on := func(addrs []ma.Multiaddr) bool {
		for _, a := range addrs {
			if got, ok := reach.IPOf(a); ok && got == ip {
				return true
			}
		}
		return false
	}
	var found []peer.ID
	if m.Promoted() && on(m.h.Addrs()) {
		found = append(found, m.h.ID())
	}
	for _, s := range m.SuperNodes() {
		if on(m.h.Peerstore().Addrs(s.Relay)) {
			found = append(found, s.Relay)
		}
	}
	if len(found) != 1 {
		return ""
	}
	return found[0]
}
