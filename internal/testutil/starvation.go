package testutil

import (
	"sync/atomic"
	"time"
)

// StarvedAfter is how late a probe wake-up must be before a real-time test
// may blame the machine rather than the code under test: five 20 ms frames.
const StarvedAfter = 100 * time.Millisecond

// SchedProbe measures how late this process's goroutines are woken, on its
// own goroutine and timer, apart from the code under test. A real-time test
// that misses its mark may skip "the machine is too loaded" only when the
// probe was starved too: lateness that only the code under test saw is the
// code's fault (a blocked playout loop, say) and must fail the test.
type SchedProbe struct {
	worst atomic.Int64
	stop  chan struct{}
	done  chan struct{}
}

// StartSchedProbe starts a probe that wakes every period until Stop.
func StartSchedProbe(period time.Duration) *SchedProbe {
	p := &SchedProbe{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		next := time.Now().Add(period)
		t := time.NewTimer(period)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case now := <-t.C:
				if late := now.Sub(next); late > time.Duration(p.worst.Load()) {
					p.worst.Store(int64(late))
				}
				next = next.Add(period)
				if now.After(next) {
					next = now.Add(period)
				}
				t.Reset(time.Until(next))
			}
		}
	}()
	return p
}

// Worst returns the latest wake-up seen so far.
func (p *SchedProbe) Worst() time.Duration { return time.Duration(p.worst.Load()) }

// Stop ends the probe, waits for its goroutine and returns Worst. It may be
// called more than once.
func (p *SchedProbe) Stop() time.Duration {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	return p.Worst()
}

// Starved reports whether the probe saw the machine starve it.
func (p *SchedProbe) Starved() bool { return p.Worst() > StarvedAfter }
