package media

import (
	"strings"
	"time"
)

// A relayed session keeps its other candidate pairs warm and moves to one
// of them on its own when the selected pair dies (package pathswitch;
// docs/architecture.md "Relay failover").

// silencePoll is how often the received-packet count is read for the
// switch.
const silencePoll = 50 * time.Millisecond

// watchSilence tells the path watch when RTP from the peer came (every
// silencePoll, from the packet count), until the session ends.
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
				s.watch.Received(now)
			}
		}
	}
}

// HasStandby reports whether the session has another pair that works, or
// a standby relay to find one through: after a path loss the owner gives
// the switch a moment before it restarts ICE.
func (s *Session) HasStandby() bool {
	if s.watch.Fresh() {
		return true
	}
	n := 0
	for _, srv := range s.pc.GetConfiguration().ICEServers {
		for _, u := range srv.URLs {
			if strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") {
				n++
				break
			}
		}
	}
	return n > 1
}

// PathSwitches is how many times the session moved to a standby pair.
func (s *Session) PathSwitches() int { return s.watch.Switches() }
