package media

import (
	"context"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
)

// callSeconds is how much of each recording a call test sends: about 3 s,
// played at real time.
const callSeconds = 3

// runCall sends alice a→b and (when both) bob b→a at real time through
// two sessions on 127.0.0.1 and returns what each side heard. With both
// false, b sends nothing (its source ends at once), which halves the CPU a
// one-way test needs.
func runCall(t *testing.T, ca, cb Config, both bool) (sentA, sentB, heardByB, heardByA []int16, a, b *Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	a, b = pair(t, ctx, ca, cb)
	fa, fb := ca.withDefaults().FrameDuration, cb.withDefaults().FrameDuration
	sentA = speechSeconds("alice", callSeconds, fa)
	if both {
		sentB = speechSeconds("bob", callSeconds, fb)
	}
	srcA := &sliceSource{samples: sentA, interval: fa}
	srcB := &sliceSource{samples: sentB, interval: fb}
	sinkA, sinkB := &sliceSink{}, &sliceSink{}
	if err := startBoth(ctx, a, b, srcA, srcB, sinkA, sinkB); err != nil {
		t.Fatal(err)
	}
	// Wait until each side has heard the whole recording plus a margin
	// for the path's delay (bounded by ctx).
	margin := audio.SampleRate / 4
	for len(sinkB.got()) < len(sentA)+margin || (both && len(sinkA.got()) < len(sentB)+margin) {
		select {
		case <-ctx.Done():
			t.Fatalf("call did not complete: a heard %d samples, b heard %d", len(sinkA.got()), len(sinkB.got()))
		case <-a.Done():
			t.Fatalf("a ended: %v", a.Err())
		case <-b.Done():
			t.Fatalf("b ended: %v", b.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return sentA, sentB, sinkB.got(), sinkA.got(), a, b
}

// TestCallBothWays is the call in one process: alice's recording goes one
// way and bob's the other, and each side must hear what the other sent.
// The threshold is testaudio.Threshold (0.5): different utterances score
// below 0.25 and a clean Opus path above 0.8, so passing it means the
// audio arrived, in order and intelligible. The score is taken per 0.5 s
// segment (see segmentSimilarity) so that the jitter buffer's time
// stretching on a loaded machine is not mistaken for corruption; the
// whole-call single-lag score is logged beside it.
func TestCallBothWays(t *testing.T) {
	tests := []struct {
		name  string
		frame time.Duration
	}{
		{"20ms", audio.Frame20ms},
		{"10ms", audio.Frame10ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ca, cb := loopbackConfig(), loopbackConfig()
			ca.FrameDuration, cb.FrameDuration = tc.frame, tc.frame
			sentA, sentB, heardByB, heardByA, a, b := runCall(t, ca, cb, true)
			for _, c := range []struct {
				what        string
				sent, heard []int16
			}{{"alice→b", sentA, heardByB}, {"bob→a", sentB, heardByA}} {
				whole, _ := testaudio.Similarity(c.sent, c.heard, audio.SampleRate)
				sim, lag := segmentSimilarity(c.sent, c.heard)
				t.Logf("%s: similarity %.3f per segment (%.3f whole call), lag %.1f ms after the first played sample (codec look-ahead included)", c.what, sim, whole, float64(lag)*1000/audio.SampleRate)
				if sim <= testaudio.Threshold {
					t.Errorf("%s: similarity %.3f <= %.2f: received audio is not what was sent", c.what, sim, testaudio.Threshold)
				}
			}
			for _, s := range []*Session{a, b} {
				st := s.Stats()
				t.Logf("stats: %v", st)
				if st.Route.Kind != "direct" || st.PacketsReceived == 0 || st.PacketsSent == 0 || st.PacketsLost != 0 {
					t.Errorf("stats: want a direct route, packets both ways and no loss, got %v", st)
				}
				if st.RTTMs <= 0 || st.RTTMs > 1000 {
					t.Errorf("stats: RTT %.2f ms from RTCP is not plausible on loopback", st.RTTMs)
				}
			}
			if a.LocalFingerprint() == "" || a.LocalFingerprint() != b.RemoteFingerprint() || b.LocalFingerprint() != a.RemoteFingerprint() {
				t.Errorf("fingerprints do not match across the SDP: a %q/%q b %q/%q", a.LocalFingerprint(), a.RemoteFingerprint(), b.LocalFingerprint(), b.RemoteFingerprint())
			}
		})
	}
}
