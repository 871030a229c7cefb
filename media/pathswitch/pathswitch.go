package pathswitch

import (
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"
)

// The controlling side checks every pair each keep-alive interval (pion's
// renomination keep-alive, with automatic renomination held off), so a
// pair that just carried a check from the peer is known to work. A
// relayed session switches its selected pair to such a pair when
//   - no RTP came from the peer for SilenceSwitch (a peer that talks sends
//     50 packets a second; armed again by the next packet, so a peer that
//     mutes costs at most one switch), or
//   - the selected pair carried no check from the peer for PeerMovedAfter
//     while another did: the peer moved (each side checks its selected
//     pair every keep-alive interval).
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
	// recently is a standby (Fresh).
	standbyFresh = 600 * time.Millisecond
	// noRenomination holds pion's automatic renomination off (it would
	// move a call between relays for 10 ms of RTT) while keeping its
	// keep-alive of every pair.
	noRenomination = 24 * time.Hour
)

// pairKey names a candidate pair by its two transport addresses.
type pairKey struct{ local, remote string }

func addrOf(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// Watch is a session's view of its pairs, for the switch. Its methods
// are safe for concurrent use.
type Watch struct {
	log        *slog.Logger
	mu         sync.Mutex
	sel        pairKey         // the selected pair
	relayed    bool            // it has a relay candidate
	selAt      time.Time       // when it was selected
	selCheckAt time.Time       // the last check from the peer on it
	otherAt    time.Time       // the last check from the peer on another pair
	lastRTP    time.Time       // the last RTP packet from the peer
	armed      bool            // RTP came since the last silence switch
	switches   int             // switches made
	hidden     map[string]bool // the peer's addresses behind a NAT (relay-only)
}

// New returns a watch that logs its switches to log.
func New(log *slog.Logger) *Watch { return &Watch{log: log} }

// Setup hooks w into the ICE of the PeerConnection se builds. A
// relay-only session also leaves out the peer's addresses behind its NAT
// (Hide): its relay refuses a permission for them, and pion's TURN client
// asks again on every check, a round trip in ICE's loop each time; when
// the relay has died, one such request holds the loop for seconds, and
// the loss goes unnoticed.
func Setup(se *webrtc.SettingEngine, w *Watch, relayOnly bool) {
	_ = se.SetICERenomination(webrtc.WithRenominationInterval(noRenomination))
	se.SetICEBindingRequestHandler(w.OnCheck)
	if relayOnly {
		se.SetRemoteIPFilter(w.reachable)
	}
}

// Selected follows ICE's selected pair (OnSelectedCandidatePairChange).
func (w *Watch) Selected(p *webrtc.ICECandidatePair) {
	if p == nil || p.Local == nil || p.Remote == nil {
		return
	}
	k := pairKey{addrOf(p.Local.Address, int(p.Local.Port)), addrOf(p.Remote.Address, int(p.Remote.Port))}
	w.mu.Lock()
	defer w.mu.Unlock()
	if k != w.sel {
		now := time.Now()
		w.sel, w.selAt, w.selCheckAt = k, now, now
	}
	w.relayed = p.Local.Typ == webrtc.ICECandidateTypeRelay || p.Remote.Typ == webrtc.ICECandidateTypeRelay
}

// Reset forgets the selected pair before an ICE restart: the switch
// waits for the restart's own selection.
func (w *Watch) Reset() {
	w.mu.Lock()
	w.sel, w.relayed = pairKey{}, false
	w.mu.Unlock()
}

// Received notes that RTP came from the peer at now.
func (w *Watch) Received(now time.Time) {
	w.mu.Lock()
	w.lastRTP, w.armed = now, true
	w.mu.Unlock()
}

// OnCheck is pion's binding-request handler (in ICE's loop): it notes
// which pair carried a check from the peer and says whether ICE moves to
// that pair now.
func (w *Watch) OnCheck(_ *stun.Message, local, remote ice.Candidate, _ *ice.CandidatePair) bool {
	k := pairKey{addrOf(local.Address(), local.Port()), addrOf(remote.Address(), remote.Port())}
	now := time.Now()
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
	w.log.Info("call path switched to a standby pair", "from", w.sel.local+" <-> "+w.sel.remote,
		"to", k.local+" <-> "+k.remote, "why", why)
	w.sel, w.selAt, w.selCheckAt = k, now, now
	w.switches++
	return true
}

// Fresh reports whether a pair other than the selected one carried a
// check from the peer a moment ago.
func (w *Watch) Fresh() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.otherAt.IsZero() && time.Since(w.otherAt) < standbyFresh
}

// Switches is how many times the session moved to a standby pair.
func (w *Watch) Switches() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.switches
}

// Hide notes the peer's addresses behind its NAT (NATHidden), before its
// description is applied.
func (w *Watch) Hide(ips []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hidden == nil {
		w.hidden = map[string]bool{}
	}
	for _, ip := range ips {
		if a := net.ParseIP(ip); a != nil {
			w.hidden[a.String()] = true
		}
	}
}

func (w *Watch) reachable(ip net.IP) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.hidden[ip.String()]
}

// NATHidden returns the addresses behind a NAT that the peer's candidates
// name as their base (raddr of a srflx or relay candidate, where it
// differs from the candidate's own): a TURN relay cannot reach them and
// refuses a permission for them (relay's peer filter).
func NATHidden(attrs []sdp.Attribute) []string {
	var out []string
	for _, a := range attrs {
		if a.Key != "candidate" {
			continue
		}
		// "foundation component proto priority ip port typ TYPE raddr IP rport PORT"
		f := strings.Fields(a.Value)
		if len(f) < 10 || f[6] != "typ" || (f[7] != "srflx" && f[7] != "relay") || f[8] != "raddr" {
			continue
		}
		if f[9] != f[4] {
			out = append(out, f[9])
		}
	}
	return out
}
