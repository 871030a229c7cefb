package presence

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	dhtrecord "github.com/libp2p/go-libp2p-record"
	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"github.com/peercall/peercall/crypto"
)

// permissiveValidator accepts anything: it is what a modified, malicious
// client would run to push records the honest validator refuses.
type permissiveValidator struct{}

func (permissiveValidator) Validate(string, []byte) error        { return nil }
func (permissiveValidator) Select(string, [][]byte) (int, error) { return 0, nil }

// dhtTestNode is one libp2p host on 127.0.0.1 with its DHT.
type dhtTestNode struct {
	user  *presenceUser // nil for a node without a user
	host  host.Host
	dht   *DHT         // nil for mallory
	raw   *dht.IpfsDHT // the DHT, honest or not
	store ds.Batching  // the DHT's datastore
}

// newDHTTestHost starts a TCP-only libp2p host on 127.0.0.1 with key priv.
func newDHTTestHost(t *testing.T, priv ic.PrivKey) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		t.Fatalf("start libp2p host: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("close host: %v", err)
		}
	})
	return h
}

// dhtTestOptions keep the small test network quick.
func dhtTestOptions(store ds.Batching) []dht.Option {
	return []dht.Option{
		dht.Datastore(store),
		dht.RoutingTableRefreshQueryTimeout(5 * time.Second),
	}
}

// startDHTTestNode starts an honest node in mode, bootstrapped to boot.
func startDHTTestNode(t *testing.T, f *presenceFixture, u *presenceUser, priv ic.PrivKey, mode DHTMode, boot []peer.AddrInfo) *dhtTestNode {
	t.Helper()
	if u != nil {
		priv = u.priv
	}
	h := newDHTTestHost(t, priv)
	store := dssync.MutexWrap(ds.NewMapDatastore())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := NewDHT(ctx, h, DHTConfig{
		DirectoryKey:   f.dirPub,
		Mode:           mode,
		BootstrapPeers: boot,
		Options:        dhtTestOptions(store),
	})
	if err != nil {
		t.Fatalf("start DHT: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close DHT: %v", err)
		}
	})
	return &dhtTestNode{user: u, host: h, dht: d, raw: d.IpfsDHT, store: store}
}

// startMallory starts a DHT server speaking peercall's protocol but
// accepting every record, bootstrapped to boot.
func startMallory(t *testing.T, u *presenceUser, boot []peer.AddrInfo) *dhtTestNode {
	t.Helper()
	h := newDHTTestHost(t, u.priv)
	store := dssync.MutexWrap(ds.NewMapDatastore())
	opts := append([]dht.Option{
		dht.ProtocolPrefix(DHTProtocolPrefix),
		dht.Mode(dht.ModeServer),
		dht.Validator(dhtrecord.NamespacedValidator{Namespace: permissiveValidator{}}),
		dht.BootstrapPeers(boot...),
	}, dhtTestOptions(store)...)
	d, err := dht.New(h, opts...)
	if err != nil {
		t.Fatalf("start mallory's DHT: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &dhtTestNode{user: u, host: h, raw: d, store: store}
}

// waitRoutingTables waits until each node's routing table holds want[i] peers.
func waitRoutingTables(t *testing.T, nodes []*dhtTestNode, want []int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i, n := range nodes {
		for n.raw.RoutingTable().Size() < want[i] {
			if time.Now().After(deadline) {
				t.Fatalf("node %d: routing table has %d peers after 20s, want %d", i, n.raw.RoutingTable().Size(), want[i])
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// storeHolds reports whether any value record in store carries value.
func storeHolds(t *testing.T, store ds.Batching, value []byte) bool {
	t.Helper()
	res, err := store.Query(context.Background(), dsq.Query{})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	for e := range res.Next() {
		if e.Error != nil {
			t.Fatal(e.Error)
		}
		if bytes.Contains(e.Value, value) {
			return true
		}
	}
	return false
}

func addrStrings(addrs []ma.Multiaddr) []string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	slices.Sort(s)
	return s
}

// TestDHTPresence runs six real libp2p hosts over TCP on 127.0.0.1: dave (a
// server with no user, the bootstrap peer), alice, bob and carol (servers),
// erin (a client) and mallory (a server running a validator that accepts
// anything, holding a valid certificate for "mallory").
func TestDHTPresence(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six libp2p hosts; skipped with -short")
	}
	// Registered first, so it runs after every host and DHT is closed.
	// No goroutine is ignored: Close of the DHTs and hosts leaves none.
	t.Cleanup(func() { goleak.VerifyNone(t) })

	f := newPresenceFixture(t)
	now := time.Now()
	users := map[string]*presenceUser{}
	for i, name := range []string{"alice", "bob", "carol", "mallory"} {
		users[name] = f.newUser(t, name, uint64(i+1), now.Add(-time.Minute), 24*time.Hour)
	}
	daveKey := f.newUser(t, "dave", 9, now, time.Hour).priv
	erinKey := f.newUser(t, "erin", 10, now, time.Hour).priv

	dave := startDHTTestNode(t, f, nil, daveKey, DHTModeServer, nil)
	boot := []peer.AddrInfo{{ID: dave.host.ID(), Addrs: dave.host.Addrs()}}
	alice := startDHTTestNode(t, f, users["alice"], nil, DHTModeServer, boot)
	bob := startDHTTestNode(t, f, users["bob"], nil, DHTModeServer, boot)
	carol := startDHTTestNode(t, f, users["carol"], nil, DHTModeServer, boot)
	erin := startDHTTestNode(t, f, nil, erinKey, DHTModeClient, boot)
	mallory := startMallory(t, users["mallory"], boot)
	honest := []*dhtTestNode{dave, alice, bob, carol, erin}
	// Five servers: each server knows the four others, the client all five.
	waitRoutingTables(t, []*dhtTestNode{dave, alice, bob, carol, mallory, erin}, []int{4, 4, 4, 4, 4, 5})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lookup := func(from *dhtTestNode, name string) (*Record, error) {
		lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
		defer lcancel()
		return Lookup(lctx, from.dht, name)
	}
	publish := func(n *dhtTestNode, seq uint64) *Record {
		p := &Record{
			Certificate: n.user.cert, PeerID: n.host.ID(), Addrs: n.host.Addrs(),
			Seq: seq, Expires: time.Now().Add(time.Hour),
		}
		if err := Publish(ctx, n.dht, p); err != nil {
			t.Fatalf("publish %s: %v", n.user.name, err)
		}
		return p
	}

	t.Run("alice publishes, bob and the client erin find her", func(t *testing.T) {
		pub := publish(alice, uint64(time.Now().UnixNano()))
		for i, from := range []*dhtTestNode{bob, erin} {
			name := []string{"alice", "ALICE"}[i] // names are normalised before the lookup
			got, err := lookup(from, name)
			if err != nil {
				t.Fatalf("look up %q: %v", name, err)
			}
			if got.PeerID != alice.host.ID() || got.Seq != pub.Seq {
				t.Errorf("found peer %s seq %d, want alice's %s seq %d", got.PeerID, got.Seq, alice.host.ID(), pub.Seq)
			}
			if g, w := addrStrings(got.Addrs), addrStrings(alice.host.Addrs()); !slices.Equal(g, w) {
				t.Errorf("found addresses %v, want alice's %v", g, w)
			}
		}
	})

	t.Run("unknown user is offline", func(t *testing.T) {
		_, err := lookup(bob, "nobody-here")
		if !errors.Is(err, ErrOffline) || !errors.Is(err, ErrNotFound) {
			t.Fatalf("look up an unknown user: %v, want ErrOffline and ErrNotFound", err)
		}
	})

	t.Run("mallory cannot take over bob's name", func(t *testing.T) {
		bobPub := publish(bob, uint64(time.Now().UnixNano()))
		bobValue := seal(t, bobPub, bob.user.priv)

		mal := users["mallory"]
		// Her own valid record, filed under bob's key.
		own := seal(t, &Record{Certificate: mal.cert, PeerID: mal.id, Addrs: mallory.host.Addrs(),
			Seq: bobPub.Seq + 1, Expires: time.Now().Add(time.Hour)}, mal.priv)
		// Bob's certificate in a record she signed, pointing at her.
		resigned := seal(t, &Record{Certificate: bob.user.cert, PeerID: bob.host.ID(), Addrs: mallory.host.Addrs(),
			Seq: bobPub.Seq + 2, Expires: time.Now().Add(time.Hour)}, mal.priv)
		for _, attack := range [][]byte{own, resigned} {
			if err := mallory.raw.PutValue(ctx, Key("bob"), attack); err != nil {
				t.Fatalf("mallory's PutValue failed locally: %v", err)
			}
			if !storeHolds(t, mallory.store, attack) {
				t.Fatal("mallory's own store does not hold her record; the check below would prove nothing")
			}
			for i, n := range honest {
				if storeHolds(t, n.store, attack) {
					t.Errorf("honest node %d stored mallory's record for bob", i)
				}
			}
		}
		held := 0
		for _, n := range honest {
			if storeHolds(t, n.store, bobValue) {
				held++
			}
		}
		if held < 2 {
			t.Errorf("bob's real record is in %d honest stores, want at least 2 (bob's and a peer's)", held)
		}
		for _, from := range []*dhtTestNode{alice, carol, erin, dave} {
			got, err := lookup(from, "bob")
			if err != nil {
				t.Fatalf("look up bob: %v", err)
			}
			if got.PeerID != bob.host.ID() || got.Seq != bobPub.Seq {
				t.Errorf("found peer %s seq %d for bob, want bob's %s seq %d", got.PeerID, got.Seq, bob.host.ID(), bobPub.Seq)
			}
		}
	})

	t.Run("carol republishes, then her clean shutdown makes her offline", func(t *testing.T) {
		var (
			mu        sync.Mutex
			published []*Record
		)
		snapshot := func() []*Record {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(published)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		var wg sync.WaitGroup
		wg.Go(func() {
			done <- Run(runCtx, carol.dht, Config{
				Certificate: func() (*crypto.Certificate, error) { return carol.user.cert, nil },
				TTL:         time.Minute,
				Republish:   300 * time.Millisecond,
				Logger:      slog.New(slog.NewTextHandler(t.Output(), nil)),
				OnPublish: func(p *Record, err error) {
					if err != nil {
						t.Errorf("publish carol seq %d: %v", p.Seq, err)
					}
					mu.Lock()
					published = append(published, p)
					mu.Unlock()
				},
			})
		})
		defer func() { stop(); wg.Wait() }()
		deadline := time.Now().Add(10 * time.Second)
		for len(snapshot()) < 2 {
			if time.Now().After(deadline) {
				t.Fatal("carol published fewer than two records in 10 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		seqs := snapshot()
		if seqs[1].Seq <= seqs[0].Seq {
			t.Errorf("republished seq %d after %d; sequence numbers must increase", seqs[1].Seq, seqs[0].Seq)
		}
		got, err := lookup(alice, "carol")
		if err != nil {
			t.Fatalf("look up carol while online: %v", err)
		}
		if got.PeerID != carol.host.ID() || got.Seq < seqs[1].Seq {
			t.Errorf("found peer %s seq %d, want carol's %s seq >= %d", got.PeerID, got.Seq, carol.host.ID(), seqs[1].Seq)
		}

		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run after shutdown: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("Run did not return 15 s after its context was cancelled")
		}
		all := snapshot()
		tomb := all[len(all)-1]
		if !tomb.Withdrawn || len(tomb.Addrs) != 0 {
			t.Fatalf("last record published is %+v, want a tombstone without addresses", tomb)
		}
		for i := 1; i < len(all); i++ {
			if all[i].Seq <= all[i-1].Seq {
				t.Errorf("record %d has seq %d after %d; sequence numbers must increase", i, all[i].Seq, all[i-1].Seq)
			}
		}
		for _, from := range []*dhtTestNode{alice, bob, erin} {
			_, err := lookup(from, "carol")
			if !errors.Is(err, ErrOffline) || !errors.Is(err, ErrWithdrawn) {
				t.Errorf("look up carol after her shutdown: %v, want ErrOffline and ErrWithdrawn", err)
			}
		}
	})
}

func TestDHTConfigErrors(t *testing.T) {
	f := newPresenceFixture(t)
	h := newDHTTestHost(t, f.newUser(t, "dave", 1, presenceNow, time.Hour).priv)
	for name, cfg := range map[string]DHTConfig{
		"bad mode":            {DirectoryKey: f.dirPub, Mode: "supernode"},
		"no directory key":    {Mode: DHTModeServer},
		"short directory key": {DirectoryKey: ed25519.PublicKey{1, 2, 3}},
	} {
		if d, err := NewDHT(context.Background(), h, cfg); err == nil {
			_ = d.Close()
			t.Errorf("%s: NewDHT succeeded", name)
		}
	}
}

func TestDHTPublishPresenceRefusesBadRecords(t *testing.T) {
	f := newPresenceFixture(t)
	now := time.Now()
	u := f.newUser(t, "alice", 1, now.Add(-time.Minute), time.Hour)
	other := f.newUser(t, "bob", 2, now.Add(-time.Minute), time.Hour)
	h := newDHTTestHost(t, u.priv)
	d, err := NewDHT(context.Background(), h, DHTConfig{DirectoryKey: f.dirPub, Mode: DHTModeClient})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	live := func() *Record {
		return &Record{Certificate: u.cert, PeerID: h.ID(), Addrs: h.Addrs(), Seq: 1, Expires: now.Add(time.Hour)}
	}
	expired, foreign, tooLong := live(), live(), live()
	expired.Expires = now.Add(-time.Minute)
	foreign.Certificate = other.cert
	tooLong.Expires = now.Add(48 * time.Hour)
	for name, tt := range map[string]struct {
		p    *Record
		want error
	}{
		"expired":                    {expired, ErrExpired},
		"another node's certificate": {foreign, ErrCertKeyMismatch},
		"expiry in two days":         {tooLong, ErrFarFuture},
		"no certificate":             {&Record{PeerID: h.ID(), Seq: 1, Expires: now.Add(time.Hour)}, ErrMalformed},
	} {
		if err := Publish(context.Background(), d, tt.p); !errors.Is(err, tt.want) {
			t.Errorf("%s: Publish: %v, want %v", name, err, tt.want)
		}
	}
	// A good record with no peer to store it fails and says why.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Publish(ctx, d, live()); err == nil {
		t.Error("Publish with an empty routing table succeeded")
	}
	for _, name := range []string{"", "a b", "admin", "ab"} {
		if _, err := Lookup(ctx, d, name); !errors.Is(err, ErrBadKey) {
			t.Errorf("Lookup(%q): %v, want ErrBadKey", name, err)
		}
	}
}

// TestRunPublishesAddressChanges: with an hour between republications, a
// kick on Config.Changed publishes a record with the new addresses (a
// circuit reservation made), while a kick with unchanged addresses
// publishes nothing; a peer's lookup sees the new address.
func TestRunPublishesAddressChanges(t *testing.T) {
	f := newPresenceFixture(t)
	now := time.Now()
	dave := startDHTTestNode(t, f, nil, f.newUser(t, "dave", 9, now, time.Hour).priv, DHTModeServer, nil)
	boot := []peer.AddrInfo{{ID: dave.host.ID(), Addrs: dave.host.Addrs()}}
	alice := startDHTTestNode(t, f, f.newUser(t, "alice", 1, now.Add(-time.Minute), 24*time.Hour), nil, DHTModeServer, boot)
	waitRoutingTables(t, []*dhtTestNode{dave, alice}, []int{1, 1})

	circuit := ma.StringCast("/ip4/127.0.0.1/tcp/7/p2p/" + dave.host.ID().String() + "/p2p-circuit")
	var mu sync.Mutex
	addrs := alice.host.Addrs()
	published := make(chan []ma.Multiaddr, 10)
	changed := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, alice.dht, Config{
			Certificate: func() (*crypto.Certificate, error) { return alice.user.cert, nil },
			Addrs: func() []ma.Multiaddr {
				mu.Lock()
				defer mu.Unlock()
				return append([]ma.Multiaddr(nil), addrs...)
			},
			Republish: time.Hour, Retry: time.Hour, TTL: 3 * time.Hour, Shutdown: 5 * time.Second,
			Changed: changed,
			OnPublish: func(p *Record, err error) {
				if err == nil && !p.Withdrawn {
					published <- p.Addrs
				}
			},
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("tombstone: %v", err)
		}
	}()
	wait := func(what string) []ma.Multiaddr {
		t.Helper()
		select {
		case a := <-published:
			return a
		case <-time.After(20 * time.Second):
			t.Fatalf("no publication %s", what)
			return nil
		}
	}
	wait("at start")
	changed <- struct{}{} // same addresses: nothing to publish
	for len(changed) > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(5 * ChangeSettle) // it would have gone out by now
	select {
	case extra := <-published:
		t.Fatalf("a kick with unchanged addresses published a record (%v)", extra)
	default:
	}
	mu.Lock()
	addrs = append(addrs, circuit)
	mu.Unlock()
	changed <- struct{}{}
	got := wait("after the circuit address appeared")
	if !sameAddrs(got, append(alice.host.Addrs(), circuit)) {
		t.Fatalf("published %v, want the host's addresses and %s", got, circuit)
	}
	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer lcancel()
	rec, err := Lookup(lctx, dave.dht, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !sameAddrs(rec.Addrs, got) {
		t.Errorf("dave finds alice at %v, want %v", rec.Addrs, got)
	}
}
