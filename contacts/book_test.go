package contacts

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/events"
)

// net is a few real libp2p hosts on loopback with directory certificates
// signed by one test key; a user is found (Resolve) only while their book
// is open.
type testNet struct {
	t      *testing.T
	dir    ed25519.PrivateKey
	mu     sync.Mutex
	users  map[string]*user
	config func(*Config)
}

type user struct {
	name string
	key  ed25519.PrivateKey
	host host.Host
	path string
	bus  *events.Bus
	sub  *events.Subscription
	book *Book
}

func newNet(t *testing.T) *testNet {
	dir, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &testNet{t: t, dir: dir, users: map[string]*user{}}
}

// user makes a user with a host; the book is opened by open.
func (n *testNet) user(name string) *user {
	key, err := crypto.GenerateKey()
	if err != nil {
		n.t.Fatal(err)
	}
	sk, err := ic.UnmarshalEd25519PrivateKey(key)
	if err != nil {
		n.t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(sk), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { h.Close() })
	u := &user{name: name, key: key, host: h, path: filepath.Join(n.t.TempDir(), name+".db")}
	n.mu.Lock()
	n.users[name] = u
	n.mu.Unlock()
	return u
}

func (n *testNet) open(u *user) {
	t := n.t
	st, err := OpenStore(context.Background(), u.path)
	if err != nil {
		t.Fatal(err)
	}
	u.bus = events.New(nil)
	u.sub = u.bus.Subscribe(1000)
	cfg := Config{
		Store: st, Host: u.host, Self: u.name,
		Certificate: func() (*crypto.Certificate, error) {
			return crypto.IssueCertificate(n.dir, u.name, u.key.Public().(ed25519.PublicKey), 1, time.Now().Add(-time.Minute), time.Hour)
		},
		Verify: func(p peer.ID, raw []byte) (string, error) {
			cert, err := crypto.ParseCertificate(raw)
			if err != nil {
				return "", err
			}
			pk, err := p.ExtractPublicKey()
			if err != nil {
				return "", err
			}
			rawKey, _ := pk.Raw()
			return cert.Username, cert.VerifyPeer(n.dir.Public().(ed25519.PublicKey), rawKey, time.Now())
		},
		Resolve: func(ctx context.Context, name string) (peer.ID, error) {
			n.mu.Lock()
			o, ok := n.users[name]
			n.mu.Unlock()
			if !ok {
				return "", fmt.Errorf("%w %q", ErrUnknownUser, name)
			}
			if o.book == nil {
				return "", fmt.Errorf("%s is offline", name)
			}
			if err := u.host.Connect(ctx, peer.AddrInfo{ID: o.host.ID(), Addrs: o.host.Addrs()}); err != nil {
				return "", err
			}
			return o.host.ID(), nil
		},
		Publish: func(k events.Kind, d any) { u.bus.Publish(k, d) },
		Retry:   100 * time.Millisecond,
		Logger:  nil,
	}
	if n.config != nil {
		n.config(&cfg)
	}
	b, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	u.book = b
	n.mu.Unlock()
	t.Cleanup(func() { n.close(u); st.Close() })
}

func (n *testNet) close(u *user) {
	n.mu.Lock()
	b := u.book
	u.book = nil
	n.mu.Unlock()
	if b != nil {
		b.Close()
		u.sub.Close()
	}
}

// waitFor reads u's events until one satisfies ok (10 s at most) and
// returns how long it took.
func (u *user) waitFor(t *testing.T, what string, ok func(events.Event) bool) time.Duration {
	t.Helper()
	start := time.Now()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, open := <-u.sub.C():
			if !open {
				t.Fatalf("%s: %s: event stream ended: %v", u.name, what, u.sub.Err())
			}
			if ok(ev) {
				return time.Since(start)
			}
		case <-timeout:
			t.Fatalf("%s: no event %s within 10 s", u.name, what)
		}
	}
}

func presenceOf(name string, st Status) func(events.Event) bool {
	return func(ev events.Event) bool {
		p, ok := ev.Data.(PresenceEvent)
		return ok && !p.Self && p.Username == name && p.Status == st
	}
}

func contactEvent(name string, st State) func(events.Event) bool {
	return func(ev events.Event) bool {
		c, ok := ev.Data.(ContactsEvent)
		return ok && c.Username == name && c.State == st
	}
}

func (u *user) contact(t *testing.T, name string) Contact {
	t.Helper()
	list, err := u.book.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.Username == name {
			return c
		}
	}
	return Contact{}
}

// TestRequestAcceptPresence: alice's request with its note reaches bob,
// bob accepts, both see the other online; alice's dnd with a mood reaches
// bob, and her invisible shows as offline; her dnd answers calls busy.
func TestRequestAcceptPresence(t *testing.T) {
	ctx := context.Background()
	n := newNet(t)
	alice, bob := n.user("alice"), n.user("bob")
	n.open(alice)
	n.open(bob)
	delivered, err := alice.book.Add(ctx, "bob", "hi bob, alice here")
	if err != nil || !delivered {
		t.Fatalf("add bob: delivered %v, %v", delivered, err)
	}
	bob.waitFor(t, "alice's request", contactEvent("alice", StateIncoming))
	if c := bob.contact(t, "alice"); c.State != StateIncoming || c.Note != "hi bob, alice here" {
		t.Fatalf("bob's view of alice: %+v", c)
	}
	if d := bob.book.Screen(ctx, "alice"); !d.Ring {
		t.Errorf("calls_from anyone: alice's call does not ring: %+v", d)
	}
	if _, err := bob.book.Accept(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, "bob's acceptance", contactEvent("bob", StateAccepted))
	alice.waitFor(t, "bob online", presenceOf("bob", Online))
	bob.waitFor(t, "alice online", presenceOf("alice", Online))

	mood := "in a meeting"
	if err := alice.book.SetStatus(ctx, DND, &mood); err != nil {
		t.Fatal(err)
	}
	took := bob.waitFor(t, "alice dnd", presenceOf("alice", DND))
	t.Logf("dnd reached bob in %v", took)
	if c := bob.contact(t, "alice"); c.Status != DND || c.Mood != mood {
		t.Errorf("bob sees alice %q %q, want dnd %q", c.Status, c.Mood, mood)
	}
	if d := alice.book.Screen(ctx, "bob"); d.Ring || !d.Busy {
		t.Errorf("dnd: bob's call %+v, want busy", d)
	}
	if err := alice.book.SetStatus(ctx, Invisible, nil); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, "alice invisible (offline)", presenceOf("alice", Offline))
	if st, m := alice.book.Self(); st != Invisible || m != mood {
		t.Errorf("alice's own status %q %q", st, m)
	}
	// Closing a book tells the contacts.
	if err := alice.book.SetStatus(ctx, Online, nil); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, "alice online again", presenceOf("alice", Online))
	n.close(alice)
	bob.waitFor(t, "alice offline at close", presenceOf("alice", Offline))
}

// TestQueuedWhileOffline: a request to a user who is offline waits in the
// outbox (also across a restart of the sender's book) and arrives when
// they come online; a request to an unknown user is an error and leaves
// nothing behind.
func TestQueuedWhileOffline(t *testing.T) {
	ctx := context.Background()
	n := newNet(t)
	alice, bob := n.user("alice"), n.user("bob")
	n.open(alice)
	delivered, err := alice.book.Add(ctx, "bob", "later")
	if err != nil || delivered {
		t.Fatalf("add offline bob: delivered %v, %v; want queued", delivered, err)
	}
	if c := alice.contact(t, "bob"); c.State != StateOutgoing || c.Queued != 1 {
		t.Errorf("alice's view of bob: %+v, want outgoing with 1 queued", c)
	}
	n.close(alice)
	n.open(alice) // the outbox is in the file
	n.open(bob)
	bob.waitFor(t, "the queued request", contactEvent("alice", StateIncoming))
	if c := bob.contact(t, "alice"); c.Note != "later" {
		t.Errorf("note %q", c.Note)
	}

	if _, err := alice.book.Add(ctx, "nobody", ""); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("add nobody: %v, want ErrUnknownUser", err)
	}
	if c := alice.contact(t, "nobody"); c.Username != "" {
		t.Errorf("nobody left on the list: %+v", c)
	}
	if _, err := alice.book.Add(ctx, "alice", ""); !errors.Is(err, ErrState) {
		t.Errorf("add oneself: %v", err)
	}
}

// TestDeclineBlockRemove: each answer reaches the other side.
func TestDeclineBlockRemove(t *testing.T) {
	ctx := context.Background()
	n := newNet(t)
	alice, bob := n.user("alice"), n.user("bob")
	n.open(alice)
	n.open(bob)
	befriend := func() {
		t.Helper()
		if _, err := alice.book.Add(ctx, "bob", ""); err != nil {
			t.Fatal(err)
		}
		bob.waitFor(t, "request", contactEvent("alice", StateIncoming))
		if _, err := bob.book.Accept(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		alice.waitFor(t, "accepted", contactEvent("bob", StateAccepted))
	}
	// Decline: alice's request disappears on her side.
	if _, err := alice.book.Add(ctx, "bob", ""); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, "request", contactEvent("alice", StateIncoming))
	if _, err := bob.book.Decline(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, "declined", contactEvent("bob", ""))
	if _, err := bob.book.Accept(ctx, "alice"); !errors.Is(err, ErrState) {
		t.Errorf("accepting a declined request: %v", err)
	}
	// Remove: bob leaves alice's list too.
	befriend()
	if err := bob.book.Remove(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, "removed", contactEvent("bob", ""))
	// Block: alice stops seeing bob; her requests are dropped silently
	// and her calls refused.
	befriend()
	if err := bob.book.Block(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, "removed by block", contactEvent("bob", ""))
	if delivered, err := alice.book.Add(ctx, "bob", "please"); err != nil || !delivered {
		t.Errorf("request to a user who blocked her: %v, %v; want delivered (and dropped)", delivered, err)
	}
	if c := bob.contact(t, "alice"); c.State != StateBlocked {
		t.Errorf("blocked alice is now %+v", c)
	}
	if d := bob.book.Screen(ctx, "alice"); d.Ring {
		t.Errorf("a blocked user's call rings")
	}
}

// TestScreen: contacts.calls_from decides calls from strangers.
func TestScreen(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		from      string
		ring      bool
		asRequest bool
	}{
		{CallsFromAnyone, true, false},
		{CallsFromContacts, false, false},
		{CallsFromRequest, false, true},
	} {
		t.Run(tc.from, func(t *testing.T) {
			n := newNet(t)
			n.config = func(c *Config) { c.CallsFrom = tc.from }
			bob := n.user("bob")
			n.open(bob)
			d := bob.book.Screen(ctx, "mallory")
			if d.Ring != tc.ring || (!d.Ring && d.Detail == "") {
				t.Errorf("stranger's call: %+v, want ring %v with a reason when refused", d, tc.ring)
			}
			if got := bob.contact(t, "mallory").State == StateIncoming; got != tc.asRequest {
				t.Errorf("stranger shown as a request: %v, want %v", got, tc.asRequest)
			}
		})
	}
	if _, err := Open(ctx, Config{Store: &Store{}, Host: nil}); err == nil {
		t.Error("a book without a host opened")
	}
}

// TestAutoAway: a user idle for AwayAfter turns away, and online again at
// the next activity.
func TestAutoAway(t *testing.T) {
	n := newNet(t)
	n.config = func(c *Config) { c.AwayAfter = 300 * time.Millisecond }
	alice := n.user("alice")
	n.open(alice)
	self := func(st Status) func(events.Event) bool {
		return func(ev events.Event) bool {
			p, ok := ev.Data.(PresenceEvent)
			return ok && p.Self && p.Status == st
		}
	}
	alice.waitFor(t, "away when idle", self(Away))
	alice.book.Touch()
	alice.waitFor(t, "online when back", self(Online))
}
