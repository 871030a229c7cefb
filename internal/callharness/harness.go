package callharness

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/server"
	"github.com/peercall/peercall/directory/store"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/node"
)

// Password is the password of every harness user.
const Password = "correct horse battery staple"

// cheapParams make argon2id fast; the harness does not measure hashing.
var cheapParams = crypto.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Logger returns a logger for harness parts: discarded unless
// PEERCALL_TEST_LOG is set, then text on stderr.
func Logger() *slog.Logger {
	if os.Getenv("PEERCALL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// Directory is a real directory server on a loopback httptest listener
// with an SQLite store in a temporary directory.
type Directory struct {
	URL string
	Key ed25519.PublicKey

	srv   *server.Server
	http  *httptest.Server
	store store.Store
	once  sync.Once
}

// StartDirectory starts a directory; it stops when the test ends.
func StartDirectory(tb testing.TB) *Directory {
	tb.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(tb.TempDir(), "directory.db"))
	if err != nil {
		tb.Fatalf("open directory store: %v", err)
	}
	key, err := crypto.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Key: key, Password: cheapParams, Logger: Logger()})
	if err != nil {
		tb.Fatalf("start directory: %v", err)
	}
	d := &Directory{srv: srv, http: httptest.NewServer(srv.Handler()), store: st,
		Key: key.Public().(ed25519.PublicKey)}
	d.URL = d.http.URL
	tb.Cleanup(func() {
		d.Stop()
		st.Close()
	})
	return d
}

// Stop takes the directory down (nodes keep running on the DHT and their
// caches). It is idempotent.
func (d *Directory) Stop() {
	d.once.Do(func() {
		d.http.Close()
		d.srv.Close()
	})
}

// Client returns a directory client pinned to the directory's key; the
// caller closes it.
func (d *Directory) Client(tb testing.TB) *directory.Client { return d.client(tb) }

// client returns a directory client pinned to the directory's key.
func (d *Directory) client(tb testing.TB) *directory.Client {
	tb.Helper()
	c, err := directory.NewClient(d.URL, directory.ClientOptions{DirectoryKey: d.Key, Logger: Logger()})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// User is a registered, logged-in user with a home directory ready for a
// node: config.toml (the directory pinned, listening on 127.0.0.1 port 0),
// identity key, certificate and username.
type User struct {
	Name string
	Home *home.Home
}

// NewUser registers name, logs in from a fresh home and returns the user.
func (d *Directory) NewUser(tb testing.TB, name string) *User {
	tb.Helper()
	hm, err := home.OpenHome(filepath.Join(tb.TempDir(), name))
	if err != nil {
		tb.Fatal(err)
	}
	cfg := home.DefaultConfig()
	cfg.Directory.URL = d.URL
	cfg.Directory.Key = crypto.EncodePublicKey(d.Key)
	cfg.Network.Listen = []string{"127.0.0.1:0"}
	if err := hm.SaveConfig(cfg); err != nil {
		tb.Fatal(err)
	}
	c := d.client(tb)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Register(ctx, name, Password); err != nil {
		tb.Fatalf("register %s: %v", name, err)
	}
	u := &User{Name: name, Home: hm}
	u.Login(tb, d)
	return u
}

// Login logs u in again (a fresh certificate) and saves it in u's home;
// addrs, when given, are checked in as the node's addresses (the
// directory's bootstrap list and user lookups).
func (u *User) Login(tb testing.TB, d *Directory, addrs ...string) *crypto.Certificate {
	tb.Helper()
	c := d.client(tb)
	defer c.Close()
	key, _, err := u.Home.IdentityKey()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cert, _, err := c.Login(ctx, directory.LoginParams{Username: u.Name, Password: Password, Key: key})
	if err != nil {
		tb.Fatalf("login %s: %v", u.Name, err)
	}
	if len(addrs) > 0 {
		if _, err := c.CheckIn(ctx, directory.CheckinParams{Key: key, Certificate: cert, Time: time.Now(), Addrs: addrs}); err != nil {
			tb.Fatalf("check in %s: %v", u.Name, err)
		}
	}
	if err := u.Home.SaveCertificate(cert); err != nil {
		tb.Fatal(err)
	}
	if err := u.Home.SaveUsername(cert.Username); err != nil {
		tb.Fatal(err)
	}
	return cert
}

// SetBootstrap writes the addresses of peers into u's config as
// network.bootstrap.
func (u *User) SetBootstrap(tb testing.TB, peers ...peer.AddrInfo) {
	tb.Helper()
	cfg, err := u.Home.Config()
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Network.Bootstrap = nil
	for _, p := range peers {
		addrs, err := peer.AddrInfoToP2pAddrs(&p)
		if err != nil {
			tb.Fatal(err)
		}
		for _, a := range addrs {
			cfg.Network.Bootstrap = append(cfg.Network.Bootstrap, a.String())
		}
	}
	if err := u.Home.SaveConfig(cfg); err != nil {
		tb.Fatal(err)
	}
}

// NodeOptions are the options the harness starts nodes with: loopback
// media, quick presence retries, a quiet logger.
func NodeOptions() node.Options {
	o := node.Options{
		PresenceRetry: 250 * time.Millisecond,
		// Closed peers' QUIC dials time out slowly; a test's last nodes
		// need not wait for their tombstones long.
		PresenceShutdown: 3 * time.Second,
		LookupTimeout:    3 * time.Second,
		RingTimeout:      30 * time.Second,
		Logger:           Logger(),
	}
	o.Media.ListenIPs = []string{"127.0.0.1"}
	return o
}

// Network is a directory and the nodes started on it; each new node
// bootstraps from the nodes already running.
type Network struct {
	TB    testing.TB
	Dir   *Directory
	mu    sync.Mutex
	nodes []*node.Node
}

// NewNetwork starts a directory.
func NewNetwork(tb testing.TB) *Network {
	nw := &Network{TB: tb, Dir: StartDirectory(tb)}
	tb.Cleanup(nw.closeAll)
	return nw
}

// closeAll closes the nodes still running, all at once (each one's
// tombstone would otherwise wait for the dials to those closed before).
func (nw *Network) closeAll() {
	nw.mu.Lock()
	nodes := append([]*node.Node(nil), nw.nodes...)
	nw.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nw.Stop(n)
		}()
	}
	wg.Wait()
}

// User registers and logs in a user.
func (nw *Network) User(name string) *User { return nw.Dir.NewUser(nw.TB, name) }

// Start starts a node for u with opts (NodeOptions() plus changes),
// bootstrapped to the running nodes; it is closed when the test ends
// (or by Stop).
// When other nodes run, it waits until u's presence is in the DHT.
func (nw *Network) Start(u *User, opts node.Options) *node.Node {
	nw.TB.Helper()
	nw.mu.Lock()
	var boot []peer.AddrInfo
	for _, n := range nw.nodes {
		boot = append(boot, n.AddrInfo())
	}
	nw.mu.Unlock()
	return nw.StartWith(u, opts, boot)
}

// StartWith is Start with network.bootstrap set to boot (none: the node
// joins through the directory's list and its host cache only).
func (nw *Network) StartWith(u *User, opts node.Options, boot []peer.AddrInfo) *node.Node {
	tb := nw.TB
	tb.Helper()
	u.SetBootstrap(tb, boot...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.New(ctx, u.Home, opts)
	if err != nil {
		tb.Fatalf("start node of %s: %v", u.Name, err)
	}
	nw.mu.Lock()
	nw.nodes = append(nw.nodes, n)
	nw.mu.Unlock()
	if len(n.Host().Network().Peers()) > 0 {
		WaitPresence(tb, n)
	}
	return n
}

// Stop closes n (publishing its tombstone) and forgets it. It is
// idempotent.
func (nw *Network) Stop(n *node.Node) {
	nw.mu.Lock()
	for i, m := range nw.nodes {
		if m == n {
			nw.nodes = append(nw.nodes[:i], nw.nodes[i+1:]...)
			break
		}
	}
	nw.mu.Unlock()
	if err := n.Close(); err != nil {
		nw.TB.Logf("close node of %s: %v", n.Username(), err)
	}
}

// WaitPresence waits (at most 20 s) until each node's presence is in the
// DHT.
func WaitPresence(tb testing.TB, nodes ...*node.Node) {
	tb.Helper()
	timeout := time.After(20 * time.Second)
	for _, n := range nodes {
		select {
		case <-n.PresencePublished():
		case <-timeout:
			tb.Fatalf("presence of %s not published after 20s: %v", n.Username(), n.PresenceError())
		}
	}
}

// discard is an io.Writer for quiet logs.
var _ io.Writer = io.Discard
