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
// listener); last is the previous packet's arrival (zero: none yet, or
// playout was off, so a hold is not counted). It returns the new last.
func (s *Session) noteGap(last, now time.Time) time.Time {
	if s.playOff.Load() {
		return time.Time{}
	}
	if !last.IsZero() {
		if g := int64(now.Sub(last)); g > s.longestGap.Load() {
			s.longestGap.Store(g) // the receive loop is the only writer
		}
	}
	return now
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
