package chat

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestChatBothWays: alice and bob write to each other; each message is
// delivered at once, in both histories, bound to its sender's name.
func TestChatBothWays(t *testing.T) {
	n := newNet(t)
	alice, bob := n.user("alice"), n.user("bob")
	alice.open()
	bob.open()
	ctx := ctxT(t)
	for i, w := range []struct {
		from, to *user
		text     string
	}{{alice, bob, "hello bob"}, {bob, alice, "hi alice,\n\thow are you?"}, {alice, bob, "fine ✓"}} {
		m, delivered, err := w.from.svc.Send(ctx, w.to.name, w.text)
		if err != nil || !delivered || m.State != StateDelivered {
			t.Fatalf("message %d: delivered %v, %+v, %v", i, delivered, m, err)
		}
		got := w.to.event(t, "message")
		if got.Peer != w.from.name || got.Message.Text != w.text || got.Message.ID != m.ID || got.Message.Dir != In {
			t.Fatalf("message %d arrived as %+v, want %q from %s", i, got.Message, w.text, w.from.name)
		}
	}
	for _, side := range []struct {
		u    *user
		peer string
		dirs string
	}{{alice, "bob", "out in out"}, {bob, "alice", "in out in"}} {
		h := side.u.history(t, side.peer)
		var dirs []string
		for _, m := range h {
			dirs = append(dirs, m.Dir)
		}
		if strings.Join(dirs, " ") != side.dirs || h[1].Text != "hi alice,\n\thow are you?" {
			t.Fatalf("%s's history with %s: %+v", side.u.name, side.peer, h)
		}
	}
}

// TestOrderAndReceipts: 100 messages arrive in order with sequence
// numbers 1..100; bob reads them and alice's copies turn read.
func TestOrderAndReceipts(t *testing.T) {
	n := newNet(t)
	alice, bob := n.user("alice"), n.user("bob")
	alice.open()
	bob.open()
	ctx := ctxT(t)
	const count = 100
	for i := range count {
		if _, ok, err := alice.svc.Send(ctx, "bob", fmt.Sprintf("m%03d", i)); err != nil || !ok {
			t.Fatalf("send %d: %v %v", i, ok, err)
		}
	}
	h := bob.history(t, "alice")
	if len(h) != count {
		t.Fatalf("bob has %d messages, want %d", len(h), count)
	}
	for i, m := range h {
		if m.Seq != uint64(i+1) || m.Text != fmt.Sprintf("m%03d", i) || m.State != StateUnread {
			t.Fatalf("bob's message %d: %+v", i, m)
		}
	}
	unread, _ := bob.svc.History(ctx, Query{Unread: true, Limit: 1000})
	if len(unread) != count {
		t.Fatalf("bob's inbox has %d, want %d", len(unread), count)
	}
	if err := bob.svc.MarkRead(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if ev := alice.event(t, StateRead); ev.Peer != "bob" || ev.UpTo != count {
		t.Fatalf("read receipt %+v", ev)
	}
	for _, m := range alice.history(t, "bob") {
		if m.State != StateRead {
			t.Fatalf("alice's message %d is %s after bob read it", m.Seq, m.State)
		}
	}
	if unread, _ := bob.svc.History(ctx, Query{Unread: true}); len(unread) != 0 {
		t.Fatalf("bob's inbox still has %d", len(unread))
	}
	// Search.
	if got, _ := bob.svc.History(ctx, Query{Text: "m04"}); len(got) != 10 {
		t.Fatalf("search m04: %d messages, want 10", len(got))
	}
	if got, _ := bob.svc.History(ctx, Query{Text: "%"}); len(got) != 0 {
		t.Fatalf("search %%: %d messages, want 0 (the pattern is literal)", len(got))
	}
}

// TestOffline: a message to bob while his node is down waits in alice's
// outbox, survives her restart, and arrives when bob's node starts (he
// tells his recent partners he is here).
func TestOffline(t *testing.T) {
	n := newNet(t)
	alice, bob := n.user("alice"), n.user("bob")
	alice.config = func(c *Config) { c.Retry = time.Minute } // only bob's start hurries it
	alice.open()
	bob.open()
	ctx := ctxT(t)
	if _, ok, err := alice.svc.Send(ctx, "bob", "first"); err != nil || !ok {
		t.Fatalf("first: %v %v", ok, err)
	}
	bob.close()
	m, ok, err := alice.svc.Send(ctx, "bob", "are you there?")
	if err != nil || ok || m.State != StateQueued {
		t.Fatalf("while bob is down: delivered %v, %+v, %v", ok, m, err)
	}
	alice.close()
	alice.open() // the queue is on disk
	if h := alice.history(t, "bob"); len(h) != 2 || h[1].State != StateQueued {
		t.Fatalf("alice's history after her restart: %+v", h)
	}
	start := time.Now()
	bob.open()
	got := bob.event(t, "message")
	t.Logf("delivered %v after bob's node started", time.Since(start))
	if got.Message.Text != "are you there?" || got.Message.Seq != 2 {
		t.Fatalf("bob got %+v", got.Message)
	}
	waitFor(t, "alice's copy delivered", func() bool { return alice.history(t, "bob")[1].State == StateDelivered })
}

// TestOfflineStranger: a message to bob, who never talked to alice and so
// does not tell her he is here when he starts, arrives within seconds of
// his node starting: alice watches a conversation whose recipient is not
// found (a lookup every 2 s) rather than backing off (here a minute).
func TestOfflineStranger(t *testing.T) {
	n := newNet(t)
	alice, bob := n.user("alice"), n.user("bob")
	alice.config = func(c *Config) { c.Retry = time.Minute }
	alice.open()
	ctx := ctxT(t)
	m, ok, err := alice.svc.Send(ctx, "bob", "hello, stranger")
	if err != nil || ok || m.State != StateQueued {
		t.Fatalf("while bob is down: delivered %v, %+v, %v", ok, m, err)
	}
	start := time.Now()
	bob.open()
	got := bob.event(t, "message")
	t.Logf("delivered %v after bob's node started", time.Since(start).Round(time.Millisecond))
	if got.Message.Text != "hello, stranger" {
		t.Fatalf("bob got %+v", got.Message)
	}
	waitFor(t, "alice's copy delivered", func() bool { return alice.history(t, "bob")[0].State == StateDelivered })
	waitFor(t, "alice's watch of bob to end with the delivery", func() bool {
		alice.svc.mu.Lock()
		defer alice.svc.mu.Unlock()
		return len(alice.svc.watched) == 0
	})
}

// TestExpiry: a message not delivered within retry_for expires, and the
// sender is told.
func TestExpiry(t *testing.T) {
	n := newNet(t)
	alice := n.user("alice")
	n.user("bob") // never online
	alice.config = func(c *Config) { c.RetryFor = 300 * time.Millisecond }
	alice.open()
	if _, ok, err := alice.svc.Send(ctxT(t), "bob", "hello?"); err != nil || ok {
		t.Fatalf("send: %v %v", ok, err)
	}
	ev := alice.event(t, StateExpired)
	if ev.Peer != "bob" || ev.Message.State != StateExpired {
		t.Fatalf("expiry event %+v", ev)
	}
}

// TestRefused: a blocked sender and a node with chat disabled refuse;
// the sender's messages are marked refused with the reason, and a sender
// with chat disabled cannot send.
func TestRefused(t *testing.T) {
	for _, c := range []struct {
		name   string
		bob    func(*Config)
		reason string
	}{
		{"blocked", func(c *Config) { c.Blocked = func(u string) bool { return u == "alice" } }, "does not take chat messages from you"},
		{"disabled", func(c *Config) { c.Rule = Effective(true, "config.toml", new(bool), "policy.toml") },
			"disabled by chat.enabled = false in the admin policy policy.toml"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := newNet(t)
			alice, bob := n.user("alice"), n.user("bob")
			bob.config = c.bob
			alice.open()
			bob.open()
			m, ok, err := alice.svc.Send(ctxT(t), "bob", "hi")
			if err != nil || ok || m.State != StateRefused || !strings.Contains(m.Reason, c.reason) {
				t.Fatalf("delivered %v, %+v, %v; want refused with %q", ok, m, err, c.reason)
			}
			if h := bob.history(t, "alice"); len(h) != 0 {
				t.Fatalf("bob stored %+v", h)
			}
		})
	}
	n := newNet(t)
	alice := n.user("alice")
	alice.config = func(c *Config) { c.Rule = Effective(false, "config.toml", nil, "") }
	alice.open()
	if _, _, err := alice.svc.Send(ctxT(t), "bob", "hi"); !errors.Is(err, ErrDisabled) {
		t.Fatalf("send with chat disabled: %v", err)
	}
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestFlood: a sender beyond bob's burst is throttled (told to come back
// later) and nothing is lost: with bob's clock stopped exactly the burst
// arrives, and the rest once time moves on.
func TestFlood(t *testing.T) {
	n := newNet(t)
	alice, bob := n.user("alice"), n.user("bob")
	clk := &clock{t: time.Now()}
	bob.config = func(c *Config) { c.Burst, c.Rate, c.Now = 20, 10, clk.now }
	alice.open()
	bob.open()
	ctx := ctxT(t)
	const count = 60
	for i := range count {
		if _, _, err := alice.svc.Send(ctx, "bob", fmt.Sprintf("flood %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if h := bob.history(t, "alice"); len(h) != 20 {
		t.Fatalf("bob took %d of the flood with a stopped clock, want the burst of 20", len(h))
	}
	if bob.svc.Throttled() == 0 {
		t.Fatal("nothing was throttled")
	}
	waitFor(t, "the rest of the flood", func() bool {
		clk.add(time.Second) // 10 more tokens
		return len(bob.history(t, "alice")) == count
	})
	for i, m := range bob.history(t, "alice") {
		if m.Text != fmt.Sprintf("flood %d", i) {
			t.Fatalf("message %d is %q", i, m.Text)
		}
	}
}

// TestStreamLimits: garbage and a stream that does not start with a hello
// are reset and store nothing.
func TestStreamLimits(t *testing.T) {
	n := newNet(t)
	alice, bob := n.user("alice"), n.user("bob")
	alice.open()
	bob.open()
	ctx := ctxT(t)
	if err := alice.host.Connect(ctx, peer.AddrInfo{ID: bob.host.ID(), Addrs: bob.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	for _, body := range [][]byte{{0xff, 0xff, 1, 2, 3}, {0, 3, version, typeText, 0}} {
		s, err := alice.svc.cfg.NewStream(ctx, bob.host.ID())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = s.Write(body)
		buf := make([]byte, 16)
		_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := s.Read(buf); err == nil {
			t.Fatalf("bob answered %x to garbage", buf[:n])
		}
		s.Close()
	}
	if h := bob.history(t, "alice"); len(h) != 0 {
		t.Fatalf("bob stored %+v", h)
	}
}

// TestVoiceOffline: a voice message to bob while his node is down arrives,
// byte for byte, when it starts; it is listed with its kind and length.
func TestVoiceOffline(t *testing.T) {
	n := newNet(t)
	alice, bob := n.user("alice"), n.user("bob")
	alice.open()
	bob.open()
	ctx := ctxT(t)
	if _, ok, err := alice.svc.Send(ctx, "bob", "calling you later"); err != nil || !ok {
		t.Fatalf("first: %v %v", ok, err)
	}
	bob.close()
	ogg := bytes.Repeat([]byte("OggS voice "), 5000)
	m, ok, err := alice.svc.SendVoice(ctx, "bob", ogg, 7*time.Second)
	if err != nil || ok || m.Kind != KindVoice || m.DurationMs != 7000 {
		t.Fatalf("voice while bob is down: delivered %v, %+v, %v", ok, m, err)
	}
	if _, _, err := alice.svc.SendVoice(ctx, "bob", ogg, MaxVoiceLength+time.Second); err == nil {
		t.Fatal("a voice message over the length limit was queued")
	}
	bob.open()
	got := bob.event(t, "message")
	if got.Message.Kind != KindVoice || got.Message.DurationMs != 7000 {
		t.Fatalf("bob got %+v", got.Message)
	}
	audio, meta, err := bob.svc.Store().Audio(ctx, got.Message.Local)
	if err != nil || !bytes.Equal(audio, ogg) || meta.Peer != "alice" {
		t.Fatalf("bob's copy: %d bytes, %+v, %v", len(audio), meta, err)
	}
	if _, _, err := bob.svc.Store().Audio(ctx, 1); err == nil {
		t.Fatal("a text message played as voice")
	}
}

// TestVoiceCap: bob's policy caps voice messages at 5 s: alice's 7 s one
// is refused with the rule (her texts still go), and her own cap refuses
// before sending.
func TestVoiceCap(t *testing.T) {
	n := newNet(t)
	alice, bob := n.user("alice"), n.user("bob")
	bob.config = func(c *Config) {
		c.Rule = Rule{Enabled: true}.WithVoiceCap(0, "config.toml", 5*time.Second, "policy.toml")
	}
	alice.config = func(c *Config) {
		c.Rule = Rule{Enabled: true}.WithVoiceCap(10*time.Second, "config.toml", 0, "")
	}
	alice.open()
	bob.open()
	ctx := ctxT(t)
	ogg := []byte("OggS not really")
	m, ok, err := alice.svc.SendVoice(ctx, "bob", ogg, 7*time.Second)
	if err != nil || ok || m.State != StateRefused || !strings.Contains(m.Reason, "at most 5s (chat.voicemail_max_length in the admin policy policy.toml)") {
		t.Fatalf("7 s to bob: delivered %v, %+v, %v", ok, m, err)
	}
	if _, ok, err := alice.svc.Send(ctx, "bob", "text still goes"); err != nil || !ok {
		t.Fatalf("text after the refused voice message: %v %v", ok, err)
	}
	if _, _, err := alice.svc.SendVoice(ctx, "bob", ogg, 11*time.Second); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "config.toml") {
		t.Fatalf("11 s over alice's own cap: %v", err)
	}
	if d := bob.svc.Rule().Describe(); !strings.Contains(d, "voice messages at most 5s") {
		t.Fatalf("bob's rule %q", d)
	}
}

// TestTyping: a typing notice reaches a connected partner as a "typing"
// event, at most one per TypingEvery; a user who turned typing notices
// off sends none and shows none.
func TestTyping(t *testing.T) {
	n := newNet(t)
	alice, bob, carol := n.user("alice"), n.user("bob"), n.user("carol")
	carol.config = func(c *Config) { c.NoTyping = true }
	alice.open()
	bob.open()
	carol.open()
	ctx := ctxT(t)
	for _, to := range []string{"bob", "carol"} {
		if _, ok, err := alice.svc.Send(ctx, to, "hi"); err != nil || !ok {
			t.Fatalf("to %s: %v %v", to, ok, err)
		}
	}
	bob.event(t, "message")
	carol.event(t, "message")
	if sent, err := alice.svc.SendTyping(ctx, "bob"); err != nil || !sent {
		t.Fatalf("typing notice to bob: sent %v, %v", sent, err)
	}
	if ev := bob.event(t, "typing"); ev.Peer != "alice" {
		t.Fatalf("bob's typing event: %+v", ev)
	}
	if sent, err := alice.svc.SendTyping(ctx, "bob"); err != nil || sent {
		t.Fatalf("a second notice within %v: sent %v, %v", TypingEvery, sent, err)
	}
	if sent, err := carol.svc.SendTyping(ctx, "alice"); err != nil || sent {
		t.Fatalf("carol, typing notices off, sent one: %v, %v", sent, err)
	}
	if sent, err := alice.svc.SendTyping(ctx, "carol"); err != nil || !sent {
		t.Fatalf("typing notice to carol: sent %v, %v", sent, err)
	}
	if _, ok, err := alice.svc.Send(ctx, "carol", "after the notice"); err != nil || !ok {
		t.Fatalf("to carol: %v %v", ok, err)
	}
	for {
		ev := carol.event(t, "")
		if ev.What == "typing" {
			t.Fatal("carol, typing notices off, shows alice typing")
		}
		if ev.What == "message" {
			break
		}
	}
	if sent, _ := alice.svc.SendTyping(ctx, "dave"); sent {
		t.Fatal("a typing notice to someone never seen was sent")
	}
}
