package admission

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// gater is admission's connmgr.ConnectionGater: it refuses, once the
// handshake says who it is, a peer that admission disconnected less than
// Cooldown ago. Caps are enforced when a connection is up (connected),
// where the count is exact: a gater is not told about handshakes that fail
// after it said yes.
type gater struct{ a *Admission }

var _ connmgr.ConnectionGater = gater{}

func (gater) InterceptPeerDial(peer.ID) bool               { return true }
func (gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }
func (gater) InterceptAccept(network.ConnMultiaddrs) bool  { return true }
func (gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}

func (g gater) InterceptSecured(dir network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	if dir != network.DirInbound || g.a.Certified(p) {
		return true
	}
	a := g.a
	a.mu.Lock()
	defer a.mu.Unlock()
	until, ok := a.cooldown[p]
	if !ok || !time.Now().Before(until) {
		return true
	}
	a.refused(ReasonCooldown, p)
	return false
}

// GuardSignal wraps the /peercall/signal/1 handler: an uncertified peer
// may have UncertifiedSignal streams being answered at once (its INVITE
// carries the certificate that would certify it); more are reset. The
// resource manager caps every peer at SignalPerPeer.
func (a *Admission) GuardSignal(h network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		p := s.Conn().RemotePeer()
		if a.Certified(p) {
			h(s)
			return
		}
		a.mu.Lock()
		e := a.peers[p]
		if e == nil || e.evicting || e.signal >= a.lim.UncertifiedSignal {
			a.refused(ReasonSignalUncertified, p)
			a.mu.Unlock()
			_ = s.Reset()
			return
		}
		e.signal++
		a.mu.Unlock()
		defer func() {
			a.mu.Lock()
			e.signal--
			a.mu.Unlock()
		}()
		h(s)
	}
}

// protectTag is the connection manager's protection of a peer with a
// call's signalling stream open.
const protectTag = "peercall-call"

// Protect keeps s's peer safe from the connection manager's trimming
// while s is open (a call in progress), and returns s wrapped so that
// closing or resetting it lifts the protection.
func (a *Admission) Protect(s network.Stream) network.Stream {
	p := s.Conn().RemotePeer()
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.peers[p]
	if e == nil || a.host == nil {
		return s
	}
	if e.holds++; e.holds == 1 {
		a.host.ConnManager().Protect(p, protectTag)
	}
	return &heldStream{Stream: s, a: a, e: e, p: p}
}

type heldStream struct {
	network.Stream
	a    *Admission
	e    *entry
	p    peer.ID
	once sync.Once
}

func (h *heldStream) release() {
	h.once.Do(func() {
		a := h.a
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.peers[h.p] != h.e { // the peer left (and maybe came back) since
			return
		}
		if h.e.holds--; h.e.holds == 0 {
			a.host.ConnManager().Unprotect(h.p, protectTag)
		}
	})
}

func (h *heldStream) Close() error {
	h.release()
	return h.Stream.Close()
}

func (h *heldStream) Reset() error {
	h.release()
	return h.Stream.Reset()
}
