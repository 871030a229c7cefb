package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/internal/testaudio"
	"github.com/peercall/peercall/node"
	"github.com/peercall/peercall/signalling"
)

// TestTrickleInterop: alice calls bob with trickle ICE over
// /peercall/signal/2; then carol plays an older peer that serves only
// /peercall/signal/1, and alice's call to her goes out with the full SDP
// and no trickled candidate. Both calls connect, carry the speech both ways and
// say in the summary whether they trickled, with the time to the first
// frame played.
func TestTrickleInterop(t *testing.T) {
	tr := startTrio(t, true)
	for _, tc := range []struct {
		name    string
		callee  *node.Node
		calleeA *callharness.Audio
		calleeU string
		older   bool
	}{
		{"both trickle", tr.bob, tr.bobA, "bob", false},
		{"carol is older", tr.carol, tr.carolA, "carol", true},
	} {
		older := tc.older
		if older {
			// An older node: no /2 handler; alice's node must learn it
			// (identify push) before it dials, as with a node that never
			// had one.
			tc.callee.Host().RemoveStreamHandler(signalling.ProtocolTrickle)
			deadline := time.Now().Add(10 * time.Second)
			for {
				p, _ := tr.alice.Host().Peerstore().SupportsProtocols(tc.callee.Host().ID(), signalling.ProtocolTrickle)
				if len(p) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("alice's node still lists /peercall/signal/2 for the callee after 10 s")
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		t.Run(tc.name, func(t *testing.T) {
			ctx, hangup := context.WithCancel(callCtx(t))
			defer hangup()
			type outcome struct {
				res *call.Result
				err error
			}
			done := make(chan outcome, 1)
			ended := make(chan struct{})
			aliceRecs := len(tr.aliceA.Recorders())
			go func() {
				defer close(ended)
				res, err := tr.alice.Call(ctx, tc.calleeU, call.Options{})
				done <- outcome{res, err}
			}()
			waitHeard(t, ended, tc.calleeA, len(tr.aliceA.Send))
			for len(tr.aliceA.Recorders()) == aliceRecs { // this call's recorder, not the last call's
				select {
				case <-ended:
					t.Fatal("the call ended before alice played anything")
				case <-time.After(20 * time.Millisecond):
				}
			}
			waitHeard(t, ended, tr.aliceA, len(tc.calleeA.Send))
			hangup()
			out := <-done
			if out.err != nil {
				t.Fatalf("alice calls bob: %v", out.err)
			}
			s := out.res.Summary
			t.Logf("summary %+v", s)
			if s.Trickle == older {
				t.Errorf("summary trickle = %v, want %v", s.Trickle, !older)
			}
			if s.FirstAudioMs <= 0 || s.SetupMs <= 0 {
				t.Errorf("first_audio_ms %v, setup_ms %v: want both set", s.FirstAudioMs, s.SetupMs)
			}
			for _, c := range []struct {
				what  string
				sent  []int16
				heard *callharness.Recorder
			}{
				{"alice→" + tc.calleeU, tr.aliceA.Send, tc.calleeA.Last()},
				{tc.calleeU + "→alice", tc.calleeA.Send, tr.aliceA.Last()},
			} {
				if c.heard == nil {
					t.Fatalf("%s: no audio was played", c.what)
				}
				if sim := callharness.SegmentSimilarity(c.sent, c.heard.Samples()); sim <= testaudio.Threshold {
					t.Errorf("%s: similarity %.3f <= %.2f", c.what, sim, testaudio.Threshold)
				}
			}
			waitNoCalls(t, tc.callee)
			rc := tc.callee.RecentCalls()
			if len(rc) == 0 || rc[len(rc)-1].Summary.Trickle == older {
				t.Errorf("%s's summary trickle: %+v, want %v", tc.calleeU, rc, !older)
			}
		})
	}
}
