package media

import (
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"
)

// ICE timing of every session. A path that carries nothing for
// ICEDisconnectedTimeout is reported lost (PathEvents); one that stays
// silent for ICEFailedTimeout fails the session unless an ICE restart
// found another path first.
const (
	// A call sends 50 packets a second each way (DTX off), so 0.7 s
	// with none from the peer (35 packets) is a dead path, not a pause
	// (ICE notices it within ICEDisconnectedTimeout+ICEKeepaliveInterval); a consent check
	// (STUN binding) goes out every ICEKeepaliveInterval on an idle pair.
	ICEDisconnectedTimeout = 700 * time.Millisecond
	ICEFailedTimeout       = 6 * time.Second
	ICEKeepaliveInterval   = 200 * time.Millisecond
	// RestartGatherWait bounds candidate gathering in an ICE restart (offer
	// or answer): a dead TURN server is not waited for.
	RestartGatherWait = 1500 * time.Millisecond
	// SrflxAcceptanceWait, PrflxAcceptanceWait and RelayAcceptanceWait
	// are how long ICE lets a better pair succeed before it nominates a
	// working pair that ends at a server-reflexive, peer-reflexive or
	// relay candidate (host pairs at once). A hole punched through two
	// NATs succeeds within a check interval or two of the answer; a relay
	// pair waits longer so that the punched one wins when there is one.
	SrflxAcceptanceWait = 100 * time.Millisecond
	PrflxAcceptanceWait = 150 * time.Millisecond
	RelayAcceptanceWait = 500 * time.Millisecond
	// RelayOnlyAcceptanceWait is how long a relay-only session's ICE
	// waits before nominating a working pair. Nothing better can come
	// (every local candidate is a relay), and pion nominates only on its
	// 200 ms check tick or on the peer's check: a wait of 200 ms often
	// missed the tick at 200 ms and nominated at 400 ms; 50 ms nominates
	// with the first check that follows success.
	RelayOnlyAcceptanceWait = 50 * time.Millisecond
)

// pathEventBuffer is how many path events wait for a slow reader; older
// ones are dropped first, so the latest state always gets through.
const pathEventBuffer = 8

// PathEvent is a change of the session's network path.
type PathEvent struct {
	// Lost is true when the path stopped carrying packets (ICE
	// "disconnected" or "failed"), false when a path works again
	// ("connected" or "completed", after a restart or a recovery).
	Lost bool
	// State is the ICE connection state that caused the event.
	State string
	// At is when it happened.
	At time.Time
}

// PathEvents delivers the session's path changes: Lost when ICE stops
// hearing the peer for ICEDisconnectedTimeout, then not Lost when a path
// works again. The owner restarts ICE on loss (SetICEServers first if the
// old relay died) and ends the call if no path comes back.
func (s *Session) PathEvents() <-chan PathEvent { return s.pathEvents }

// onICEState turns ICE connection states into PathEvents.
func (s *Session) onICEState(st webrtc.ICEConnectionState) {
	s.log.Debug("ICE connection state", "state", st.String())
	var ev PathEvent
	switch st {
	case webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateFailed:
		ev.Lost = true
	case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
	default:
		return
	}
	ev.State, ev.At = st.String(), time.Now()
	for {
		select {
		case s.pathEvents <- ev:
			return
		default:
		}
		select { // full: drop the oldest
		case <-s.pathEvents:
		default:
		}
	}
}

// SetICEServers replaces the session's STUN/TURN servers; they are used
// from the next ICE restart (RestartICEOffer, or answering the peer's
// restart offer with Accept). A relay-only session needs a TURN server
// among them.
func (s *Session) SetICEServers(servers []webrtc.ICEServer) error {
	c := s.cfg
	c.ICEServers = servers
	if err := c.validate(); err != nil {
		return err
	}
	pc := s.pc.GetConfiguration()
	pc.ICEServers = servers
	if err := s.pc.SetConfiguration(pc); err != nil {
		return fmt.Errorf("media: set ICE servers: %w", err)
	}
	return nil
}
