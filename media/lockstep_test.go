package media

import (
	"context"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
)

// stepSource is a microphone driven by the test: each Read waits for a
// step, so sender and receiver advance in lock-step. After its samples it
// returns io.EOF (via sliceSource).
type stepSource struct {
	sliceSource
	steps chan struct{}
}

func newStepSource(samples []int16) *stepSource {
	return &stepSource{sliceSource: sliceSource{samples: samples}, steps: make(chan struct{})}
}

func (s *stepSource) Read(ctx context.Context, frame []int16) error {
	if s.pos+len(frame) <= len(s.samples) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.steps:
		}
	}
	return s.sliceSource.Read(ctx, frame)
}

// lockstepCall runs a call through the live sessions (real UDP sockets on
// 127.0.0.1, ICE, DTLS-SRTP, RTCP) but replaces the two clocks with the
// test's steps: both microphones capture frame n, the test waits until
// each side has received packet n (unless the loss shim dropped it), then
// each side's playout plays one frame. Jitter buffer, FEC and concealment
// then see the same timing in every run, whatever the load of this shared
// 2-core machine, which makes comparisons between runs exact. sentB may be
// nil (b sends nothing).
func lockstepCall(t *testing.T, ca, cb Config, sentA, sentB []int16) (heardByA, heardByB []int16, stA, stB Stats) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ticksA, ticksB := make(chan struct{}), make(chan struct{})
	ca.playoutTicks, cb.playoutTicks = ticksA, ticksB
	a, b := pair(t, ctx, ca, cb)
	srcA, srcB := newStepSource(sentA), newStepSource(sentB)
	sinkA, sinkB := &sliceSink{}, &sliceSink{}
	if err := startBoth(ctx, a, b, srcA, srcB, sinkA, sinkB); err != nil {
		t.Fatal(err)
	}
	step := func(ch chan struct{}) {
		select {
		case ch <- struct{}{}:
		case <-ctx.Done():
			t.Fatalf("lock-step call stuck: %v", ctx.Err())
		}
	}
	frame := audio.SamplesPer(ca.withDefaults().FrameDuration)
	frames := max(len(sentA), len(sentB)) / frame
	var wantA, wantB uint64 // packets each side must have received
	for n := 0; n < frames+2; n++ {
		for _, d := range []struct {
			src  *stepSource
			drop func(uint16) bool
			want *uint64
		}{{srcA, ca.lossHook, &wantB}, {srcB, cb.lossHook, &wantA}} {
			if (n+1)*frame <= len(d.src.samples) {
				step(d.src.steps)
				if d.drop == nil || !d.drop(uint16(n)) {
					*d.want++
				}
			}
		}
		for a.packetsReceived.Load() < wantA || b.packetsReceived.Load() < wantB {
			if ctx.Err() != nil {
				t.Fatalf("frame %d: packets never arrived (a has %d of %d, b %d of %d)", n, a.packetsReceived.Load(), wantA, b.packetsReceived.Load(), wantB)
			}
			time.Sleep(200 * time.Microsecond)
		}
		step(ticksA)
		step(ticksB)
		waitTicks(t, ctx, int64(n+1), a, b)
	}
	// Let the last ticks' frames be played.
	for (len(sinkA.got()) < len(sentB) || len(sinkB.got()) < len(sentA)) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	stA, stB = a.Stats(), b.Stats()
	return sinkA.got(), sinkB.got(), stA, stB
}

// waitTicks waits until each session has played n lock-step ticks: the
// jitter buffer's clock (jbNow) counts them, and a packet the next step
// sends must not arrive before the tick that preceded it was counted.
func waitTicks(t *testing.T, ctx context.Context, n int64, ss ...*Session) {
	t.Helper()
	for _, s := range ss {
		for s.ticks.Load() < n {
			if ctx.Err() != nil {
				t.Fatalf("lock-step tick %d never played (%d played)", n, s.ticks.Load())
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
}
