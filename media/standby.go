package media

import (
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"
)

// A relayed session keeps its other candidate pairs warm and moves to one
// of them on its own when the selected pair dies (docs/architecture.md
// "Relay failover"): no ICE restart, no signalling, the DTLS session
// unchanged. The controlling side checks every pair each
// ICEKeepaliveInterval (pion's renomination keep-alive, with automatic
// renomination held off), so a pair that just carried a check from the
// peer is known to work. The session switches its selected pair to such a
// pair when
//   - no RTP came from the peer for SilenceSwitch (a peer that talks sends
//     50 packets a second; armed again by the next packet, so a peer that
//     mutes costs at most one switch), or
//   - the selected pair carried no check from the peer for PeerMovedAfter
//     while another did: the peer moved (each side checks its selected
//     pair every ICEKeepaliveInterval).
//
// The side that notices first moves; the other follows within a
// keep-alive interval. A pair only carries audio after it carried a check
// from the peer, so a wrong guess (a stall on this machine) moves a call
// to another working path, never to a dead one. Direct calls are left to
// ICE: a switch could move them onto a relay.
const (
	SilenceSwitch  = 250 * time.Millisecond
	PeerMovedAfter = 500 * time.Millisecond
	// switchHoldOff: after a selection (nomination, restart, switch) no
	// switch for this long, so that checks still in flight from the
	// set-up do not move a new pair.
	switchHoldOff = time.Second
	// standbyFresh: a non-selected pair that carried a check this
	// recently is a standby (HasStandby).
	standbyFresh = 3 * ICEKeepaliveInterval
	// silencePoll is how often the received-packet count is read.
	silencePoll = 50 * time.Millisecond
	// noRenomination holds pion's automatic renomination off (it would
	// move a call between relays for 10 ms of RTT) while keeping its
	// keep-alive of every pair.
	noRenomination = 24 * time.Hour
)

// pairKey names a candidate pair by its two transport addresses.
type pairKey struct{ local, remote string }

func keyOf(local, remote ice.Candidate) pairKey {
	return pairKey{addrOf(local.Address(), local.Port()), addrOf(remote.Address(), remote.Port())}
}

func addrOf(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// pathWatch is the session's view of its pairs, for the switch.
type pathWatch struct {
	mu         sync.Mutex
	sel        pairKey   // the selected pair
	relayed    bool      // it has a relay candidate
	selAt      time.Time // when it was selected
	selCheckAt time.Time // the last check from the peer on it
	otherAt    time.Time // the last check from the peer on another pair
	lastRTP    time.Time // the last RTP packet from the peer
	armed      bool      // RTP came since the last silence switch
	switches   int
	hidden     map[string]bool // the peer's addresses behind a NAT (relay-only)
}

// setupPathWatch hooks the watch into the session's ICE (before the
// PeerConnection is built). A relay-only session also leaves out the
// peer's addresses behind its NAT (natHidden): its relay refuses a
// permission for them, and pion's TURN client asks again on every check,
// a round trip in ICE's loop each time; when the relay has died, one such
// request holds the loop for seconds, and the loss goes unnoticed.
func (s *Session) setupPathWatch(se *webrtc.SettingEngine) {
	_ = se.SetICERenomination(webrtc.WithRenominationInterval(noRenomination))
	se.SetICEBindingRequestHandler(s.onCheck)
	if s.cfg.RelayOnly {
		se.SetRemoteIPFilter(func(ip net.IP) bool {
			s.watch.mu.Lock()
			defer s.watch.mu.Unlock()
			return !s.watch.hidden[ip.String()]
		})
	}
}

// hideRemote notes the peer's addresses behind its NAT, before its
// description is applied.
func (s *Session) hideRemote(ips []string) {
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	if s.watch.hidden == nil {
		s.watch.hidden = map[string]bool{}
	}
	for _, ip := range ips {
		if a := net.ParseIP(ip); a != nil {
			s.watch.hidden[a.String()] = true
		}
	}
}

// watchSelected follows ICE's selected pair (after the PeerConnection is
// built).
func (s *Session) watchSelected() {
	s.sender.Transport().ICETransport().OnSelectedCandidatePairChange(func(p *webrtc.ICECandidatePair) {
		if p == nil || p.Local == nil || p.Remote == nil {
			return
		}
		k := pairKey{hostPort(p.Local.Address, p.Local.Port), hostPort(p.Remote.Address, p.Remote.Port)}
		w := &s.watch
		w.mu.Lock()
		if k != w.sel {
			now := time.Now()
			w.sel, w.selAt, w.selCheckAt = k, now, now
		}
		w.relayed = p.Local.Typ == webrtc.ICECandidateTypeRelay || p.Remote.Typ == webrtc.ICECandidateTypeRelay
		w.mu.Unlock()
	})
}

// resetWatch forgets the selected pair before an ICE restart: the switch
// waits for the restart's own selection.
func (s *Session) resetWatch() {
	s.watch.mu.Lock()
	s.watch.sel, s.watch.relayed = pairKey{}, false
	s.watch.mu.Unlock()
}

// onCheck is pion's binding-request handler (in ICE's loop): it notes
// which pair carried a check from the peer and says whether ICE moves to
// that pair now.
func (s *Session) onCheck(_ *stun.Message, local, remote ice.Candidate, _ *ice.CandidatePair) bool {
	k := keyOf(local, remote)
	now := time.Now()
	w := &s.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if k == w.sel {
		w.selCheckAt = now
		return false
	}
	w.otherAt = now
	if !w.relayed || w.sel == (pairKey{}) || now.Sub(w.selAt) < switchHoldOff {
		return false
	}
	silent := w.armed && !w.lastRTP.IsZero() && now.Sub(w.lastRTP) >= SilenceSwitch
	moved := now.Sub(w.selCheckAt) >= PeerMovedAfter
	if !silent && !moved {
		return false
	}
	why := "the peer moved to it"
	if silent {
		why = "no audio from the peer for " + now.Sub(w.lastRTP).Round(time.Millisecond).String()
		w.armed = false
	}
	s.log.Info("call path switched to a standby pair", "from", w.sel.local+" <-> "+w.sel.remote,
		"to", k.local+" <-> "+k.remote, "why", why)
	w.sel, w.selAt, w.selCheckAt = k, now, now
	w.switches++
	return true
}

// watchSilence notes when RTP from the peer last came (every silencePoll,
// from the packet count), until the session ends.
func (s *Session) watchSilence() {
	defer s.wg.Done()
	t := time.NewTicker(silencePoll)
	defer t.Stop()
	var seen uint64
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			if n := s.packetsReceived.Load(); n != seen {
				seen = n
				s.watch.mu.Lock()
				s.watch.lastRTP, s.watch.armed = now, true
				s.watch.mu.Unlock()
			}
		}
	}
}

// HasStandby reports whether the session has another pair that works, or
// a standby relay to find one through: after a path loss the owner gives
// the switch a moment before it restarts ICE.
func (s *Session) HasStandby() bool {
	w := &s.watch
	w.mu.Lock()
	fresh := !w.otherAt.IsZero() && time.Since(w.otherAt) < standbyFresh
	w.mu.Unlock()
	return fresh || s.relayServers() > 1
}

// PathSwitches is how many times the session moved to a standby pair.
func (s *Session) PathSwitches() int {
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	return s.watch.switches
}

// relayServers counts the session's TURN servers.
func (s *Session) relayServers() int {
	n := 0
	for _, srv := range s.pc.GetConfiguration().ICEServers {
		for _, u := range srv.URLs {
			if len(u) > 4 && (u[:5] == "turn:" || u[:5] == "turns") {
				n++
				break
			}
		}
	}
	return n
}
