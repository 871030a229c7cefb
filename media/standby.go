package media

import (
	"strings"
	"time"
)

// A relayed session keeps its other candidate pairs warm and moves to one
// of them on its own when the selected pair dies (package pathswitch;
// docs/architecture.md "Relay failover").

// noteRTP tells the path watch that RTP from the peer came: the receive
// loop calls it for every packet (a mutex, no more), where a 50 ms ticker
// of its own used to read the packet count, 20 wake-ups a second of an
// otherwise idle process.
func (s *Session) noteRTP(now time.Time) { s.watch.Received(now) }

// noteGap keeps the longest time between two packets received while this
// side plays (Stats.LongestGap: what a failover or a stalled path cost the
// listener), from the previous packet's arrival (lastArrival; 0: none
// yet, or playout was off, so a hold is not counted).
func (s *Session) noteGap(now time.Time) {
	if s.playOff.Load() {
		s.lastArrival.Store(0)
		return
	}
	t := now.UnixNano()
	if last := s.lastArrival.Swap(t); last != 0 {
		s.foldGap(t - last)
	}
}

// foldGap records g if it is the longest gap yet (the receive loop is
// the only writer).
func (s *Session) foldGap(g int64) {
	if g > s.longestGap.Load() {
		s.longestGap.Store(g)
	}
}

// endGaps folds the gap still open when the receive loop ends: a call
// whose audio never came back until it ended shows that whole stall.
func (s *Session) endGaps() {
	if last := s.lastArrival.Swap(0); last != 0 {
		s.foldGap(time.Now().UnixNano() - last)
	}
}

// longestGapNow is the longest gap so far, counting the one open now.
func (s *Session) longestGapNow() time.Duration {
	g := s.longestGap.Load()
	if last := s.lastArrival.Load(); last != 0 {
		g = max(g, time.Now().UnixNano()-last)
	}
	return time.Duration(g)
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
