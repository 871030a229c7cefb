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

// TestCallWithProcessing is a loopback call with the whole microphone
// chain on at both ends (echo cancellation fed with what each side played,
// noise suppression, gain control, high-pass; process_virtual so that the
// test's virtual microphones go through it), next to the same call with
// every stage turned off (call --no-aec --no-ns --no-agc --no-hpf): speech
// both ways scores as well with processing as without, and the summary
// says what ran.
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
	o.Audio = aliceA.Opener()
	alice := nw.Start(aliceU, o)
	o = callharness.NodeOptions()
	o.Audio, o.AutoAnswer = bobA.Opener(), true
	bob := nw.Start(bobU, o)
	callharness.WaitPresence(t, alice, bob)

	sims := map[bool][2]float64{}
	for _, on := range []bool{false, true} {
		var off []string
		if !on {
			off = []string{call.StageAEC, call.StageNS, call.StageAGC, call.StageHPF}
		}
		s := talk(t, alice, bob, off, aliceA, bobA)
		t.Logf("processing %v: mos %.2f %+v, dsp %+v", on, s.MOS, s.Quality, s.DSP)
		if on && (s.DSP == nil || len(s.DSP.Stages) != 4 || s.DSP.CaptureFrames == 0 || s.DSP.RenderFrames == 0) {
			t.Errorf("summary dsp %+v: want the four stages, having processed both directions", s.DSP)
		}
		if !on && s.DSP != nil {
			t.Errorf("every stage off, but the summary has dsp %+v", s.DSP)
		}
		if s.MOS < 4 || s.Quality == nil {
			t.Errorf("summary mos %.2f (%+v) on a clean loopback path, want >= 4", s.MOS, s.Quality)
		}
		var sim [2]float64
		for i, c := range []struct {
			what  string
			sent  []int16
			heard *callharness.Recorder
		}{{"alice→bob", aliceA.Send, bobA.Last()}, {"bob→alice", bobA.Send, aliceA.Last()}} {
			if c.heard == nil {
				t.Fatalf("%s: nothing was played", c.what)
			}
			sim[i] = callharness.SegmentSimilarity(c.sent, c.heard.Samples())
			t.Logf("%s, processing %v: similarity %.3f", c.what, on, sim[i])
			if sim[i] <= testaudio.Threshold {
				t.Errorf("%s, processing %v: similarity %.3f <= %.2f", c.what, on, sim[i], testaudio.Threshold)
			}
		}
		sims[on] = sim
	}
	for i, what := range []string{"alice→bob", "bob→alice"} {
		if on, off := sims[true][i], sims[false][i]; on < min(0.9, off)-0.1 {
			t.Errorf("%s: similarity %.3f with processing, %.3f without: processing costs more than 0.1", what, on, off)
		}
	}
}

// talk places one call from alice to bob and returns its summary once
// both have heard what the other sent (bounded by 60 s).
func talk(t *testing.T, alice, bob *node.Node, off []string, aliceA, bobA *callharness.Audio) call.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nb, na := len(recorders(bobA)), len(recorders(aliceA))
	done := make(chan *call.Result, 1)
	go func() {
		res, err := alice.Call(ctx, "bob", call.Options{DSPOff: off})
		if err != nil {
			t.Errorf("alice calls bob: %v", err)
		}
		done <- res
	}()
	for _, a := range []struct {
		audio *callharness.Audio
		n     int
		want  int
	}{{bobA, nb, len(aliceA.Send)}, {aliceA, na, len(bobA.Send)}} {
		for ctx.Err() == nil {
			if rs := recorders(a.audio); len(rs) > a.n && len(rs[len(rs)-1].Samples()) >= a.want+24000 {
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
	// bob's side ends too before the next call.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if len(bob.Calls()) == 0 {
			break
		}
	}
	return res.Summary
}

func recorders(a *callharness.Audio) []*callharness.Recorder { return a.Recorders() }
