package node_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/node"
	"github.com/peercall/peercall/presence"
)

// TestControlSocket drives a node through its control socket as the CLI
// does: status, a call by name with its events, the socket's mode, and a
// second node on the same home refused.
func TestControlSocket(t *testing.T) {
	// Runs after the network is closed: requests, calls and the socket
	// server leave no goroutine behind.
	t.Cleanup(func() { goleak.VerifyNone(t) })
	nw := callharness.NewNetwork(t)
	aliceU, bobU := nw.User("alice"), nw.User("bob")
	aliceA := &callharness.Audio{Send: callharness.Speech("alice", 1)}
	bobA := &callharness.Audio{Send: callharness.Speech("bob", 1)}
	o := callharness.NodeOptions()
	o.Audio = aliceA.Opener()
	alice := nw.Start(aliceU, o)
	o = callharness.NodeOptions()
	o.Audio, o.AutoAnswer = bobA.Opener(), true
	nw.Start(bobU, o)
	callharness.WaitPresence(t, alice)

	st, err := os.Stat(aliceU.Home.Path(home.ControlSocket))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Mode()&os.ModeSocket == 0 {
		t.Errorf("control socket mode %v, want a socket with 0600", st.Mode())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cc, err := control.Dial(aliceU.Home)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cc.Do(ctx, control.Request{Op: control.OpStatus}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := resp.Status
	if s == nil || s.Username != "alice" || s.PeerID != alice.PeerID().String() || s.Role != "client" || s.RoleReason == "" {
		t.Fatalf("status %+v", s)
	}

	var events []call.EventKind
	resp, err = cc.Do(ctx, control.Request{Op: control.OpCall, Name: "bob", DurationMs: 1500},
		func(r control.Response) { events = append(events, r.Event) })
	if err != nil {
		t.Fatalf("call through the socket: %v", err)
	}
	if resp.Result == nil || !resp.Result.Connected || resp.Result.Summary.Peer != "bob" || resp.Result.Summary.PacketsReceived == 0 {
		t.Fatalf("call result %+v", resp.Result)
	}
	if len(events) != 2 || events[0] != call.EventRinging || events[1] != call.EventConnected {
		t.Errorf("events %v, want [ringing connected]", events)
	}

	// Ctrl-C during a call: the client hangs up and still gets the
	// summary of a connected call.
	cctx, interrupt := context.WithCancel(ctx)
	resp, err = cc.Call(cctx, control.Request{Op: control.OpCall, Name: "bob"}, func(r control.Response) {
		if r.Event == call.EventConnected {
			go func() {
				time.Sleep(300 * time.Millisecond)
				interrupt()
			}()
		}
	})
	interrupt()
	if err != nil || resp.Result == nil || !resp.Result.Connected || resp.Result.End != "hung up (local)" {
		t.Fatalf("interrupted call: %+v, %v; want a connected call hung up locally", resp, err)
	}

	_, err = cc.Do(ctx, control.Request{Op: control.OpCall, Name: "nobody"}, nil)
	if !errors.Is(err, presence.ErrUnknownUser) {
		t.Errorf("call nobody through the socket: %v, want ErrUnknownUser across the socket", err)
	}
	_, err = cc.Do(ctx, control.Request{Op: control.OpHangup}, nil)
	if !errors.Is(err, call.ErrNoSuchCall) {
		t.Errorf("hang up with no call: %v, want ErrNoSuchCall", err)
	}

	_, err = node.New(ctx, aliceU.Home, callharness.NodeOptions())
	if !errors.Is(err, home.ErrNodeRunning) {
		t.Errorf("second node on alice's home: %v, want ErrNodeRunning", err)
	}
}
