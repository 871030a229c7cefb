package node_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/internal/testaudio"
	"github.com/peercall/peercall/node"
	"github.com/peercall/peercall/presence"
	"github.com/peercall/peercall/signalling"
)

// speechSeconds is how much speech each side sends in call tests.
const speechSeconds = 2.5

// trio is the usual test network: alice, bob and carol, each on a node with
// virtual audio sending their own recording (carol sends alice's).
type trio struct {
	nw                   *callharness.Network
	alice, bob, carol    *node.Node
	aliceA, bobA, carolA *callharness.Audio
	aliceU, bobU, carolU *callharness.User
}

// startTrio starts the network; bob answers automatically when autoBob.
func startTrio(t *testing.T, autoBob bool) *trio {
	t.Helper()
	nw := callharness.NewNetwork(t)
	tr := &trio{nw: nw,
		aliceA: &callharness.Audio{Send: callharness.Speech("alice", speechSeconds)},
		bobA:   &callharness.Audio{Send: callharness.Speech("bob", speechSeconds)},
		carolA: &callharness.Audio{Send: callharness.Speech("alice", speechSeconds)},
	}
	tr.aliceU, tr.bobU, tr.carolU = nw.User("alice"), nw.User("bob"), nw.User("carol")
	start := func(u *callharness.User, a *callharness.Audio, auto bool) *node.Node {
		o := callharness.NodeOptions()
		o.Audio = a.Opener()
		o.AutoAnswer = auto
		return nw.Start(u, o)
	}
	tr.alice = start(tr.aliceU, tr.aliceA, false)
	tr.bob = start(tr.bobU, tr.bobA, autoBob)
	tr.carol = start(tr.carolU, tr.carolA, true)
	callharness.WaitPresence(t, tr.alice, tr.bob, tr.carol)
	return tr
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestCallByName is alice calling bob by username on loopback: bob's node
// auto-answers, speech goes both ways and each side hears what the other
// sent; the summary carries the contract's fields.
func TestCallByName(t *testing.T) {
	// Registered first, so it runs after the network is closed: the
	// nodes, their calls and the directory leave no goroutine behind.
	t.Cleanup(func() { goleak.VerifyNone(t) })
	tr := startTrio(t, true)
	var mu sync.Mutex
	var events []call.EventKind
	ctx, hangup := context.WithCancel(callCtx(t))
	type outcome struct {
		res *call.Result
		err error
	}
	done := make(chan outcome, 1)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		res, err := tr.alice.Call(ctx, "Bob", call.Options{OnEvent: func(ev call.Event) {
			mu.Lock()
			events = append(events, ev.Kind)
			mu.Unlock()
		}})
		done <- outcome{res, err}
	}()
	// Hang up (as Ctrl-C does) once both sides heard everything sent plus
	// half a second: under -race on a loaded machine audio can run late.
	waitHeard(t, ended, tr.bobA, len(tr.aliceA.Send))
	waitHeard(t, ended, tr.aliceA, len(tr.bobA.Send))
	hangup()
	out := <-done
	res, err := out.res, out.err
	if err != nil {
		t.Fatalf("alice calls bob: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	s := res.Summary
	t.Logf("summary %+v, end %s, SAS %s, events %v", s, res.End, res.SAS, events)
	if s.Peer != "bob" || s.Route != "direct" || s.RelayPeerID != "" || s.CallID == "" {
		t.Errorf("summary peer/route/call_id: got %+v", s)
	}
	if s.PacketsSent == 0 || s.PacketsReceived == 0 || s.SetupMs <= 0 || s.DurationS <= 0 {
		t.Errorf("summary counters: got %+v", s)
	}
	if len(res.SAS) != 7 {
		t.Errorf("SAS %q is not \"123 456\"", res.SAS)
	}
	if want := []call.EventKind{call.EventRinging, call.EventConnected}; len(events) < 2 || events[0] != want[0] || events[1] != want[1] {
		t.Errorf("events %v, want ringing then connected first", events)
	}
	for _, c := range []struct {
		what  string
		sent  []int16
		heard *callharness.Recorder
	}{
		{"alice→bob", tr.aliceA.Send, tr.bobA.Last()},
		{"bob→alice", tr.bobA.Send, tr.aliceA.Last()},
	} {
		if c.heard == nil {
			t.Fatalf("%s: no audio was played", c.what)
		}
		sim := callharness.SegmentSimilarity(c.sent, c.heard.Samples())
		t.Logf("%s: similarity %.3f", c.what, sim)
		if sim <= testaudio.Threshold {
			t.Errorf("%s: similarity %.3f <= %.2f: what was heard is not what was sent", c.what, sim, testaudio.Threshold)
		}
	}
	// bob's side ended too and remembers the call.
	deadline := time.Now().Add(5 * time.Second)
	for len(tr.bob.RecentCalls()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if rc := tr.bob.RecentCalls(); len(rc) != 1 || rc[0].Summary.Peer != "alice" || rc[0].SAS != res.SAS {
		t.Errorf("bob's recent calls %+v: want one with alice and the same SAS %q", rc, res.SAS)
	}
}

// TestCallFailures covers the calls that do not happen, with the error the
// CLI maps to its exit code.
func TestCallFailures(t *testing.T) {
	tr := startTrio(t, false)
	ctx := callCtx(t)

	t.Run("unknown user", func(t *testing.T) {
		_, err := tr.alice.Call(ctx, "nobody", call.Options{})
		if !errors.Is(err, presence.ErrUnknownUser) {
			t.Fatalf("call nobody: %v, want ErrUnknownUser", err)
		}
	})
	t.Run("rejected", func(t *testing.T) {
		go answerWhenRinging(t, tr.bob, false)
		_, err := tr.alice.Call(ctx, "bob", call.Options{})
		if !errors.Is(err, call.ErrRejected) {
			t.Fatalf("call bob who rejects: %v, want ErrRejected", err)
		}
	})
	t.Run("caller cancels while ringing", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		// Cancel once alice hears bob's phone ring (RINGING arrived).
		res, err := tr.alice.Call(cctx, "bob", call.Options{OnEvent: func(ev call.Event) {
			if ev.Kind == "ringing" {
				cancel()
			}
		}})
		if err != nil {
			t.Fatalf("cancelled call: %v", err)
		}
		if res.Connected || res.End != signalling.EndCancelled.String() {
			t.Errorf("cancelled call result %+v, want end cancelled, never connected", res)
		}
		waitNoCalls(t, tr.bob)
		if rc := tr.bob.RecentCalls(); len(rc) == 0 || rc[len(rc)-1].End != signalling.EndCancelled.String() {
			t.Errorf("bob's last call %+v, want cancelled", rc)
		}
	})
	t.Run("callee hangs up", func(t *testing.T) {
		go func() {
			answerWhenRinging(t, tr.bob, true)
			waitActive(t, tr.bob)
			time.Sleep(500 * time.Millisecond)
			if err := tr.bob.Hangup(ctx, ""); err != nil {
				t.Errorf("bob hangs up: %v", err)
			}
		}()
		res, err := tr.alice.Call(ctx, "bob", call.Options{Duration: 20 * time.Second})
		if err != nil {
			t.Fatalf("call bob who hangs up: %v", err)
		}
		if !res.Connected || res.End != signalling.EndHangupRemote.String() {
			t.Errorf("result %+v, want connected and ended by the remote hangup", res)
		}
	})
	t.Run("busy", func(t *testing.T) {
		// The last subtest's hangup may still be ending on either side.
		waitNoCalls(t, tr.alice)
		waitNoCalls(t, tr.bob)
		// carol auto-answers bob's call; alice then finds bob busy.
		done := make(chan error, 1)
		bctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			_, err := tr.bob.Call(bctx, "carol", call.Options{})
			done <- err
		}()
		waitActive(t, tr.bob)
		_, err := tr.alice.Call(ctx, "bob", call.Options{})
		if !errors.Is(err, call.ErrBusy) {
			t.Errorf("call bob in a call with carol: %v, want ErrBusy", err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bob's call with carol: %v", err)
		}
	})
	t.Run("offline", func(t *testing.T) {
		tr.nw.Stop(tr.carol)
		_, err := tr.alice.Call(ctx, "carol", call.Options{})
		if !errors.Is(err, presence.ErrUserOffline) {
			t.Fatalf("call carol whose node closed: %v, want ErrUserOffline", err)
		}
		if !errors.Is(err, presence.ErrWithdrawn) {
			t.Errorf("call carol: %v, want the tombstone's ErrPresenceWithdrawn", err)
		}
	})
}

// waitHeard waits until a's latest call has played n samples plus half a
// second (30 s at most), failing early if the call ends.
func waitHeard(t *testing.T, done <-chan struct{}, a *callharness.Audio, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if r := a.Last(); r != nil && len(r.Samples()) >= n+audio.SampleRate/2 {
			return
		}
		select {
		case <-done:
			t.Fatal("the call ended before the audio was heard")
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("after 30s only %d of %d samples were heard", len(a.Last().Samples()), n)
}

// waitCall polls n until cond holds for one of its calls (10 s at most).
func waitCall(t *testing.T, n *node.Node, what string, cond func(call.Info) bool) call.Info {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range n.Calls() {
			if cond(c) {
				return c
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%s: no call %s after 10s", n.Username(), what)
	return call.Info{}
}

func waitRinging(t *testing.T, n *node.Node) call.Info {
	return waitCall(t, n, "ringing", func(c call.Info) bool { return c.Direction == "incoming" && c.State == "ringing" })
}

func waitActive(t *testing.T, n *node.Node) call.Info {
	return waitCall(t, n, "active", func(c call.Info) bool { return c.State == "active" })
}

func waitNoCalls(t *testing.T, n *node.Node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(n.Calls()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s still has calls %+v after 10s", n.Username(), n.Calls())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// answerWhenRinging accepts or rejects n's next ringing call.
func answerWhenRinging(t *testing.T, n *node.Node, accept bool) {
	c := waitRinging(t, n)
	var err error
	if accept {
		err = n.Answer(c.CallID)
	} else {
		err = n.Reject(c.CallID)
	}
	if err != nil {
		t.Errorf("answer %v: %v", accept, err)
	}
}

// TestCallNoAnswer: a call nobody answers ends after the ring timeout
// (30 s by default; 1 s here) with ErrNoAnswer, on both sides.
func TestCallNoAnswer(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU := nw.User("alice"), nw.User("bob")
	o := callharness.NodeOptions()
	o.RingTimeout = time.Second
	o.Audio = (&callharness.Audio{Send: callharness.Speech("alice", 1)}).Opener()
	alice := nw.Start(aliceU, o)
	bob := nw.Start(bobU, o) // rings, nobody answers
	callharness.WaitPresence(t, alice)
	_, err := alice.Call(callCtx(t), "bob", call.Options{})
	if !errors.Is(err, call.ErrNoAnswer) {
		t.Fatalf("call bob who does not answer: %v, want ErrNoAnswer", err)
	}
	waitNoCalls(t, bob)
	if rc := bob.RecentCalls(); len(rc) != 1 || rc[0].End != signalling.EndNoAnswer.String() {
		t.Errorf("bob's calls %+v, want one ended %q", rc, signalling.EndNoAnswer)
	}
}

// TestCallICERestart renews the path of an active call from the caller's
// side: the callee answers the new offer and audio keeps arriving after.
func TestCallICERestart(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU := nw.User("alice"), nw.User("bob")
	aliceA := &callharness.Audio{Send: callharness.Speech("alice", 8)}
	o := callharness.NodeOptions()
	o.Audio = aliceA.Opener()
	alice := nw.Start(aliceU, o)
	o = callharness.NodeOptions()
	o.AutoAnswer = true
	o.Audio = (&callharness.Audio{Send: callharness.Speech("bob", 8)}).Opener()
	nw.Start(bobU, o)
	callharness.WaitPresence(t, alice)
	ctx, hangup := context.WithCancel(callCtx(t))
	done := make(chan error, 1)
	go func() {
		_, err := alice.Call(ctx, "bob", call.Options{})
		done <- err
	}()
	c := waitActive(t, alice)
	if err := alice.RestartICE(ctx, c.CallID); err != nil {
		t.Fatalf("restart ICE: %v", err)
	}
	received := func() uint64 {
		for _, c := range alice.Calls() {
			return c.PacketsReceived
		}
		return 0
	}
	time.Sleep(300 * time.Millisecond)
	before := received()
	time.Sleep(700 * time.Millisecond)
	if after := received(); after-before < 10 {
		t.Errorf("after the ICE restart alice received %d packets in 0.7 s, want audio to keep flowing (about 35)", after-before)
	}
	hangup()
	if err := <-done; err != nil {
		t.Fatalf("call: %v", err)
	}
}
