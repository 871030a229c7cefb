package node_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/contacts"
	"github.com/peercall/peercall/events"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/node"
)

// waitEvent reads s until ok holds (15 s at most) and returns how long it
// took.
func waitEvent(t *testing.T, s *events.Subscription, what string, ok func(events.Event) bool) time.Duration {
	t.Helper()
	start := time.Now()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, open := <-s.C():
			if !open {
				t.Fatalf("%s: event stream ended: %v", what, s.Err())
			}
			if ok(ev) {
				return time.Since(start)
			}
		case <-timeout:
			t.Fatalf("no event %s within 15 s", what)
		}
	}
}

func sees(name string, st contacts.Status) func(events.Event) bool {
	return func(ev events.Event) bool {
		p, ok := ev.Data.(contacts.PresenceEvent)
		return ok && !p.Self && p.Username == name && p.Status == st
	}
}

// TestContactsOnNodes: on real nodes, alice's request reaches bob, bob
// accepts, both see each other online, and a status change reaches the
// other within 2 s; bob takes calls from contacts only, so carol's call is
// refused with the reason, while alice's rings; bob's dnd answers alice's
// call busy; the calls are in the history.
func TestContactsOnNodes(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU, carolU := nw.User("alice"), nw.User("bob"), nw.User("carol")
	cfg, err := bobU.Home.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Contacts = &home.ContactsConfig{CallsFrom: "contacts"}
	if err := bobU.Home.SaveConfig(cfg); err != nil {
		t.Fatal(err)
	}
	start := func(u *callharness.User, auto bool) *node.Node {
		o := callharness.NodeOptions()
		o.Audio = (&callharness.Audio{Send: callharness.Speech("alice", 1)}).Opener()
		o.AutoAnswer = auto
		o.Softphone.ContactsRetry = 200 * time.Millisecond
		return nw.Start(u, o)
	}
	alice, bob, carol := start(aliceU, false), start(bobU, true), start(carolU, false)
	callharness.WaitPresence(t, alice, bob, carol)
	aliceEv, bobEv := alice.Events().Subscribe(1000), bob.Events().Subscribe(1000)
	defer aliceEv.Close()
	defer bobEv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if _, err := alice.Contacts().Add(ctx, "bob", "hello from alice"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, bobEv, "alice's request", func(ev events.Event) bool {
		c, ok := ev.Data.(contacts.ContactsEvent)
		return ok && c.Username == "alice" && c.State == contacts.StateIncoming && c.Note == "hello from alice"
	})
	if _, err := bob.Contacts().Accept(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, aliceEv, "bob online at alice", sees("bob", contacts.Online))
	waitEvent(t, bobEv, "alice online at bob", sees("alice", contacts.Online))
	mood := "lunch"
	if err := alice.Contacts().SetStatus(ctx, contacts.Away, &mood); err != nil {
		t.Fatal(err)
	}
	took := waitEvent(t, bobEv, "alice away at bob", sees("alice", contacts.Away))
	t.Logf("a status change reached the contact in %v (measured: BenchmarkPresencePush)", took)

	// carol is no contact of bob's: refused, with the reason.
	_, err = carol.Call(ctx, "bob", call.Options{Duration: time.Second})
	if !errors.Is(err, call.ErrRejected) || !strings.Contains(err.Error(), "contacts only") {
		t.Errorf("carol's call to bob: %v, want rejected because bob takes calls from contacts only", err)
	}
	// alice is: it rings (bob auto-answers) and connects.
	res, err := alice.Call(ctx, "bob", call.Options{Duration: time.Second})
	if err != nil || !res.Connected {
		t.Fatalf("alice's call to bob: %+v, %v", res, err)
	}
	// bob in dnd: busy with the reason.
	if err := bob.Contacts().SetStatus(ctx, contacts.DND, nil); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, aliceEv, "bob dnd at alice", sees("bob", contacts.DND))
	_, err = alice.Call(ctx, "bob", call.Options{Duration: time.Second})
	if !errors.Is(err, call.ErrRejected) || !strings.Contains(err.Error(), "disturbed") {
		t.Errorf("alice's call to bob in dnd: %v, want refused as busy (do not disturb)", err)
	}
	hist, err := bob.Contacts().History(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var connected, refused int
	for _, h := range hist {
		if h.Connected && h.Peer == "alice" {
			connected++
		} else if !h.Connected {
			refused++
		}
	}
	if connected != 1 || refused != 2 {
		t.Errorf("bob's history %+v: want alice's connected call and two refused", hist)
	}
	if st := bob.Status(); st.Availability != "dnd" {
		t.Errorf("bob's status shows availability %q", st.Availability)
	}
	// alice stops: bob sees her offline.
	nw.Stop(alice)
	waitEvent(t, bobEv, "alice offline at bob", sees("alice", contacts.Offline))
}

// BenchmarkPresencePush measures how long a status change takes to reach
// an accepted contact's event stream, node to node on loopback.
func BenchmarkPresencePush(b *testing.B) {
	nw := callharness.NewNetwork(b)
	aliceU, bobU := nw.User("alice"), nw.User("bob")
	alice := nw.Start(aliceU, callharness.NodeOptions())
	bob := nw.Start(bobU, callharness.NodeOptions())
	callharness.WaitPresence(b, alice, bob)
	ctx := context.Background()
	bobEv := bob.Events().Subscribe(1 << 16)
	defer bobEv.Close()
	wait := func(st contacts.Status) {
		timeout := time.After(15 * time.Second)
		for {
			select {
			case ev := <-bobEv.C():
				if sees("alice", st)(ev) {
					return
				}
			case <-timeout:
				b.Fatalf("alice's %s did not reach bob", st)
			}
		}
	}
	if _, err := alice.Contacts().Add(ctx, "bob", ""); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := bob.Contacts().Accept(ctx, "alice"); err == nil {
			break
		} else if time.Now().After(deadline) {
			b.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wait(contacts.Online)
	b.ResetTimer()
	for i := range b.N {
		st := contacts.Away
		if i%2 == 1 {
			st = contacts.Online
		}
		if err := alice.Contacts().SetStatus(ctx, st, nil); err != nil {
			b.Fatal(err)
		}
		wait(st)
	}
}
