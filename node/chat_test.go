package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/chat"
	"github.com/peercall/peercall/events"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/node"
)

func chatCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitChat waits up to 20 s for a chat event on sub matching match.
func waitChat(t *testing.T, sub *events.Subscription, match func(chat.Event) bool) chat.Event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				t.Fatalf("event stream ended: %v", sub.Err())
			}
			if ce, ok := ev.Data.(chat.Event); ok && match(ce) {
				return ce
			}
		case <-timeout:
			t.Fatal("no such chat event within 20 s")
		}
	}
}

// TestChatNodes: alice and bob chat both ways over their nodes'
// authenticated connection; bob's node stops, alice writes, and the
// message arrives when bob's node starts again; bob reads it and alice
// sees the read receipt; once bob blocks alice, her messages are refused.
func TestChatNodes(t *testing.T) {
	nw := callharness.NewNetwork(t)
	au, bu := nw.User("alice"), nw.User("bob")
	alice := nw.Start(au, callharness.NodeOptions())
	bob := nw.Start(bu, callharness.NodeOptions())
	callharness.WaitPresence(t, alice, bob)
	ctx := chatCtx(t)
	bobSub := bob.Events().Subscribe(1000)
	for _, w := range []struct {
		from *node.Node
		to   string
		text string
	}{{alice, "bob", "hello bob"}, {bob, "alice", "hello alice"}} {
		m, ok, err := w.from.Chat().Send(ctx, w.to, w.text)
		if err != nil || !ok {
			t.Fatalf("%s -> %s: delivered %v, %+v, %v", w.from.Username(), w.to, ok, m, err)
		}
	}
	if ev := waitChat(t, bobSub, func(e chat.Event) bool { return e.What == "message" }); ev.Peer != "alice" || ev.Message.Text != "hello bob" {
		t.Fatalf("bob got %+v", ev.Message)
	}
	h, err := alice.Chat().History(ctx, chat.Query{Peer: "bob"})
	if err != nil || len(h) != 2 || h[0].Dir != chat.Out || h[1].Dir != chat.In || h[1].Text != "hello alice" {
		t.Fatalf("alice's history %+v, %v", h, err)
	}

	nw.Stop(bob)
	m, ok, err := alice.Chat().Send(ctx, "bob", "while you were away")
	if err != nil || ok || m.State != chat.StateQueued {
		t.Fatalf("to bob while his node is down: delivered %v, %+v, %v", ok, m, err)
	}
	start := time.Now()
	bob = nw.Start(bu, callharness.NodeOptions())
	started := time.Since(start)
	for {
		h, err := bob.Chat().History(ctx, chat.Query{Peer: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if len(h) == 3 && h[2].Text == "while you were away" && h[2].Seq == 2 {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the message did not arrive; bob's history %+v", h)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("offline message delivered %v after bob's node was asked to start (node.New took %v)", time.Since(start), started)

	aliceSub := alice.Events().Subscribe(1000)
	if err := bob.Chat().MarkRead(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if ev := waitChat(t, aliceSub, func(e chat.Event) bool { return e.What == chat.StateRead }); ev.Peer != "bob" || ev.UpTo != 2 {
		t.Fatalf("read receipt %+v", ev)
	}

	if err := bob.Contacts().Block(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	m, ok, err = alice.Chat().Send(ctx, "bob", "let me in")
	if err != nil || ok || m.State != chat.StateRefused || !strings.Contains(m.Reason, "does not take chat messages from you") {
		t.Fatalf("to bob who blocked her: delivered %v, %+v, %v", ok, m, err)
	}
	if st := bob.Status(); st.ChatRule != "enabled" {
		t.Fatalf("status chat rule %q", st.ChatRule)
	}
}
