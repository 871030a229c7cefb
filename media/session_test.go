package media

import (
	"context"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
	"github.com/peercall/peercall/internal/testutil"
)

// callSeconds is how much of each recording a call test sends: about 3 s,
// played at real time.
const callSeconds = 3

// TestCallBothWays is the call in one process: alice's recording goes one
// way and bob's the other, and each side must hear what the other sent.
// The threshold is testaudio.Threshold (0.5): different utterances score
// below 0.25 and a clean Opus path above 0.8, so passing it means the
// audio arrived, in order and intelligible. The call runs in lock-step
// (see lockstepCall) so that the load of the shared machine cannot fail
// it; TestCallRealTime runs the same call on the real clocks.
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
			sentA := speechSeconds("alice", callSeconds, tc.frame)
			sentB := speechSeconds("bob", callSeconds, tc.frame)
			heardByA, heardByB, stA, stB := lockstepCall(t, ca, cb, sentA, sentB)
			for _, c := range []struct {
				what        string
				sent, heard []int16
			}{{"alice→b", sentA, heardByB}, {"bob→a", sentB, heardByA}} {
				sim, lag := testaudio.Similarity(c.sent, c.heard, audio.SampleRate/2)
				t.Logf("%s: similarity %.3f, delay %.1f ms (codec look-ahead; the lock-step clock hides network and buffer delay)", c.what, sim, float64(lag)*1000/audio.SampleRate)
				if sim <= testaudio.Threshold {
					t.Errorf("%s: similarity %.3f <= %.2f: received audio is not what was sent", c.what, sim, testaudio.Threshold)
				}
			}
			for _, st := range []Stats{stA, stB} {
				// The encoder's bitrate, measured on the Opus payloads sent
				// for 3 s of speech: VBR around the 28 kbit/s target.
				kbps := float64(st.BytesSent) * 8 / 1000 / callSeconds
				t.Logf("stats: %v; payload %.1f kbit/s", st, kbps)
				if st.Route.Kind != RouteDirect || st.PacketsReceived == 0 || st.PacketsSent == 0 || st.PacketsLost != 0 {
					t.Errorf("stats: want a direct route, packets both ways and no loss, got %v", st)
				}
				if kbps < 0.6*DefaultBitrate/1000 || kbps > 1.3*DefaultBitrate/1000 {
					t.Errorf("payload bitrate %.1f kbit/s is far from the %d bit/s target", kbps, DefaultBitrate)
				}
			}
		})
	}
}

// TestCallRealTime runs the two-way call on the real clocks: microphones
// paced by a 20 ms timer and the sessions' own playout clocks, as in a
// live call, for 3 s each way. It checks the received audio per 0.5 s
// segment (see segmentSimilarity), RTT from RTCP, the route and the DTLS
// fingerprints. On a machine so loaded that a 20 ms timer wakes up more
// than 100 ms late no real-time audio can work, and the test skips saying
// so rather than fail on the machine's account.
func TestCallRealTime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	a, b := pair(t, ctx, loopbackConfig(), loopbackConfig())
	sentA := speechSeconds("alice", callSeconds, audio.Frame20ms)
	sentB := speechSeconds("bob", callSeconds, audio.Frame20ms)
	srcA := &sliceSource{samples: sentA, interval: audio.Frame20ms}
	srcB := &sliceSource{samples: sentB, interval: audio.Frame20ms}
	sinkA, sinkB := &sliceSink{}, &sliceSink{}
	probe := testutil.StartSchedProbe(audio.Frame20ms)
	defer probe.Stop()
	if err := startBoth(ctx, a, b, srcA, srcB, sinkA, sinkB); err != nil {
		t.Fatal(err)
	}
	margin := audio.SampleRate / 4
	for !srcA.ended.Load() || !srcB.ended.Load() || len(sinkB.got()) < len(sentA)+margin || len(sinkA.got()) < len(sentB)+margin {
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
	stA, stB := a.Stats(), b.Stats()
	// Only the independent probe may excuse the call: lateness that the
	// session's own clocks saw alone is the session's fault.
	slip := max(time.Duration(srcA.maxLate.Load()), time.Duration(srcB.maxLate.Load()), stA.ClockSlip, stB.ClockSlip)
	starved := probe.Stop() > testutil.StarvedAfter
	for _, st := range []Stats{stA, stB} {
		t.Logf("stats: %v", st)
		if st.Route.Kind != RouteDirect || st.PacketsReceived == 0 || st.PacketsSent == 0 {
			t.Errorf("stats: want a direct route and packets both ways, got %v", st)
		}
		if st.PacketsLost != 0 && !starved {
			t.Errorf("stats: %d packets lost on loopback", st.PacketsLost)
		}
		if st.RTTMs <= 0 || st.RTTMs > 5000 {
			t.Errorf("stats: RTT %.2f ms from RTCP is not plausible on loopback", st.RTTMs)
		}
	}
	if a.LocalFingerprint() == "" || a.LocalFingerprint() != b.RemoteFingerprint() || b.LocalFingerprint() != a.RemoteFingerprint() {
		t.Errorf("fingerprints do not match across the SDP: a %q/%q b %q/%q", a.LocalFingerprint(), a.RemoteFingerprint(), b.LocalFingerprint(), b.RemoteFingerprint())
	}
	for _, c := range []struct {
		what        string
		sent, heard []int16
	}{{"alice→b", sentA, sinkB.got()}, {"bob→a", sentB, sinkA.got()}} {
		whole, _ := testaudio.Similarity(c.sent, c.heard, audio.SampleRate)
		sim, lag := segmentSimilarity(c.sent, c.heard)
		t.Logf("%s: similarity %.3f per segment (%.3f whole call), lag %.1f ms after the first played sample", c.what, sim, whole, float64(lag)*1000/audio.SampleRate)
		if sim <= testaudio.Threshold {
			if starved {
				t.Skipf("this machine is too loaded for real-time audio: an idle probe goroutine woke up %v late (the call's clocks %v; similarity %.3f)", probe.Worst(), slip, sim)
			}
			t.Errorf("%s: similarity %.3f <= %.2f: received audio is not what was sent", c.what, sim, testaudio.Threshold)
		}
	}
}
