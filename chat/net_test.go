package chat

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

// testNet is real libp2p hosts on loopback with directory certificates
// signed by one test key; a user is found (Resolve) only while their
// service is open.
type testNet struct {
	t     testing.TB
	dir   ed25519.PrivateKey
	mu    sync.Mutex
	users map[string]*user
}

type user struct {
	n      *testNet
	name   string
	key    ed25519.PrivateKey
	host   host.Host
	path   string
	bus    *events.Bus
	sub    *events.Subscription
	svc    *Service
	config func(*Config)
}

func newNet(t testing.TB) *testNet {
	dir, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &testNet{t: t, dir: dir, users: map[string]*user{}}
}

func newHost(t testing.TB, key ed25519.PrivateKey) host.Host {
	sk, err := ic.UnmarshalEd25519PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(sk), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (n *testNet) user(name string) *user {
	key, err := crypto.GenerateKey()
	if err != nil {
		n.t.Fatal(err)
	}
	u := &user{n: n, name: name, key: key, path: filepath.Join(n.t.TempDir(), name+".db")}
	n.mu.Lock()
	n.users[name] = u
	n.mu.Unlock()
	return u
}

// certFunc and verifyFunc are the node's certificate and its check, with
// the test directory key.
func certFunc(dir ed25519.PrivateKey, name string, key ed25519.PrivateKey) func() (*crypto.Certificate, error) {
	return func() (*crypto.Certificate, error) {
		return crypto.IssueCertificate(dir, name, key.Public().(ed25519.PublicKey), 1, time.Now().Add(-time.Minute), time.Hour)
	}
}

func verifyFunc(dir ed25519.PublicKey) func(p peer.ID, raw []byte) (string, error) {
	return func(p peer.ID, raw []byte) (string, error) {
		cert, err := crypto.ParseCertificate(raw)
		if err != nil {
			return "", err
		}
		pk, err := p.ExtractPublicKey()
		if err != nil {
			return "", err
		}
		rawKey, _ := pk.Raw()
		return cert.Username, cert.VerifyPeer(dir, rawKey, time.Now())
	}
}

// open starts u's node: a new host (same key, so the same peer ID) and
// the service on u's store.
func (u *user) open() {
	t := u.n.t
	u.host = newHost(t, u.key)
	st, err := OpenStore(context.Background(), u.path)
	if err != nil {
		t.Fatal(err)
	}
	u.bus = events.New(nil)
	u.sub = u.bus.Subscribe(100_000)
	cfg := Config{
		Store: st, Host: u.host, Self: u.name,
		Certificate: certFunc(u.n.dir, u.name, u.key),
		Verify:      verifyFunc(u.n.dir.Public().(ed25519.PublicKey)),
		Resolve: func(ctx context.Context, name string) (peer.ID, error) {
			u.n.mu.Lock()
			o, ok := u.n.users[name]
			var info peer.AddrInfo
			if ok && o.svc != nil {
				info = peer.AddrInfo{ID: o.host.ID(), Addrs: o.host.Addrs()}
			}
			u.n.mu.Unlock()
			if !ok {
				return "", fmt.Errorf("no such user %q", name)
			}
			if info.ID == "" {
				return "", errors.New(name + " is offline")
			}
			return info.ID, u.host.Connect(ctx, info)
		},
		Publish: func(k events.Kind, d any) { u.bus.Publish(k, d) },
		Retry:   100 * time.Millisecond, Rule: Rule{Enabled: true},
	}
	if u.config != nil {
		u.config(&cfg)
	}
	svc, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	u.n.mu.Lock()
	u.svc = svc
	u.n.mu.Unlock()
	t.Cleanup(u.close)
}

// close stops u's node (service, store, host).
func (u *user) close() {
	u.n.mu.Lock()
	svc := u.svc
	u.svc = nil
	u.n.mu.Unlock()
	if svc == nil {
		return
	}
	_ = svc.Close()
	_ = u.host.Close()
	u.bus.Close()
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// history is u's conversation with peer.
func (u *user) history(t *testing.T, peer string) []Message {
	t.Helper()
	ms, err := u.svc.History(context.Background(), Query{Peer: peer, Limit: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// event waits for u's next chat event matching what ("" any).
func (u *user) event(t *testing.T, what string) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		var ev events.Event
		select {
		case e, ok := <-u.sub.C():
			if !ok {
				t.Fatalf("%s: no %q chat event: %v", u.name, what, u.sub.Err())
			}
			ev = e
		case <-ctx.Done():
			t.Fatalf("%s: no %q chat event within 20 s", u.name, what)
		}
		if ce, ok := ev.Data.(Event); ok && ev.Kind == events.KindChat && (ce.What == what || what == "") {
			return ce
		}
	}
}
