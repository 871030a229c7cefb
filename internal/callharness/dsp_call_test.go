//go:build cgo

package callharness_test

import (
	"context"
	"testing"
	"time"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/internal/testaudio"
	"github.com/peercall/peercall/node"
)

// fineSegment is the segment TestCallWithProcessing scores speech by. On
// a loaded machine (CI runs every package on two cores) the receiving
// jitter buffer stalls or shrinks now and then: a frame of concealment or
// one skipped, and everything after shifted by a frame. That spoils the
// segment it falls in whatever the processing did, and a 0.5 s segment is
// a sixth of a turn; 100 ms segments, each found at its own lag, leave it
// a thirtieth.
const fineSegment = 100 * time.Millisecond

// TestCallWithProcessing is a loopback call with the whole microphone
// chain on at both ends (echo cancellation fed with what each side played,
// noise suppression, gain control, high-pass; process_virtual so that the
// test's virtual microphones go through it), next to calls with every
// stage off on the talking side (call --no-aec --no-ns --no-agc --no-hpf:
// the caller's flags, so each side calls once with its own stages off):
// speech both ways scores as well with processing as without, and the
// summary says what ran.
func TestCallWithProcessing(t *testing.T) {
	nw := callharness.NewNetwork(t)
	// A conversation: alice talks, then bob answers (a turn each; both
	// talking at once is double talk, which the echo canceller's
	// suppression trades against echo: see dsp's tests for that).
	turn := 3.0
	gap := make([]int16, int(turn*48000)+24000)
	aliceA := &callharness.Audio{Send: append(callharness.Speech("alice", turn), gap...)}
	bobA := &callharness.Audio{Send: append(append([]int16(nil), gap...), callharness.Speech("bob", turn)...)}
	aliceU, bobU := nw.User("alice"), nw.User("bob")
	for _, u := range []*callharness.User{aliceU, bobU} {
		cfg, err := u.Home.Config()
		if err != nil {
			t.Fatal(err)
		}
		a := cfg.AudioSection()
		a.ProcessVirtual = true
		cfg.Audio = &a
		if err := u.Home.SaveConfig(cfg); err != nil {
			t.Fatal(err)
		}
	}
	o := callharness.NodeOptions()
	o.Audio, o.AutoAnswer = aliceA.Opener(), true
	alice := nw.Start(aliceU, o)
	o = callharness.NodeOptions()
	o.Audio, o.AutoAnswer = bobA.Opener(), true
	bob := nw.Start(bobU, o)
	callharness.WaitPresence(t, alice, bob)

	allOff := []string{call.StageAEC, call.StageNS, call.StageAGC, call.StageHPF}
	a2b := func() float64 { return callharness.SimilarityPer(aliceA.Send, bobA.Last().Samples(), fineSegment) }
	b2a := func() float64 { return callharness.SimilarityPer(bobA.Send, aliceA.Last().Samples(), fineSegment) }
	// Without processing: each side calls with its own stages off (the
	// callee processes as its config says), and what it sent is scored.
	var off [2]float64
	s := talk(t, alice, bob, "bob", allOff, aliceA, bobA)
	off[0] = a2b()
	checkSummary(t, "alice calls, her stages off", s, false)
	s = talk(t, bob, alice, "alice", allOff, bobA, aliceA)
	off[1] = b2a()
	checkSummary(t, "bob calls, his stages off", s, false)
	// With processing at both ends.
	s = talk(t, alice, bob, "bob", nil, aliceA, bobA)
	checkSummary(t, "alice calls, every stage on", s, true)
	on := [2]float64{a2b(), b2a()}
	for i, what := range []string{"alice→bob", "bob→alice"} {
		t.Logf("%s: similarity %.3f with processing, %.3f without", what, on[i], off[i])
		for _, sim := range []float64{on[i], off[i]} {
			if sim <= testaudio.Threshold {
				t.Errorf("%s: similarity %.3f <= %.2f", what, sim, testaudio.Threshold)
			}
		}
		if on[i] < min(0.9, off[i])-0.1 {
			t.Errorf("%s: similarity %.3f with processing, %.3f without: processing costs more than 0.1", what, on[i], off[i])
		}
	}
}

// checkSummary checks what the caller's summary says about the call's
// quality and processing.
func checkSummary(t *testing.T, what string, s call.Summary, processed bool) {
	t.Helper()
	t.Logf("%s: mos %.2f %+v, dsp %+v", what, s.MOS, s.Quality, s.DSP)
	if processed && (s.DSP == nil || len(s.DSP.Stages) != 4 || s.DSP.CaptureFrames == 0 || s.DSP.RenderFrames == 0) {
		t.Errorf("%s: summary dsp %+v: want the four stages, having processed both directions", what, s.DSP)
	}
	if !processed && s.DSP != nil {
		t.Errorf("%s: every stage off, but the summary has dsp %+v", what, s.DSP)
	}
	if s.MOS < 4 || s.Quality == nil {
		t.Errorf("%s: summary mos %.2f (%+v) on a clean loopback path, want >= 4", what, s.MOS, s.Quality)
	}
}

// talk places one call from caller to callee (named calleeName) and
// returns its summary once both have heard what the other sent (bounded
// by 60 s).
func talk(t *testing.T, caller, callee *node.Node, calleeName string, off []string, callerA, calleeA *callharness.Audio) call.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nb, na := len(calleeA.Recorders()), len(callerA.Recorders())
	done := make(chan *call.Result, 1)
	go func() {
		res, err := caller.Call(ctx, calleeName, call.Options{DSPOff: off})
		if err != nil {
			t.Errorf("call %s: %v", calleeName, err)
		}
		done <- res
	}()
	for _, a := range []struct {
		audio *callharness.Audio
		n     int
		want  int
	}{{calleeA, nb, len(callerA.Send)}, {callerA, na, len(calleeA.Send)}} {
		for ctx.Err() == nil {
			if rs := a.audio.Recorders(); len(rs) > a.n && len(rs[len(rs)-1].Samples()) >= a.want+24000 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	cancel()
	res := <-done
	if res == nil {
		t.Fatal("no call result")
	}
	// Both sides end before the next call.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if len(callee.Calls()) == 0 && len(caller.Calls()) == 0 {
			break
		}
	}
	return res.Summary
}
