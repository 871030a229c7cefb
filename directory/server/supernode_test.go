package server

import (
	"context"
	"crypto/ed25519"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/dialback"
)

// recordingProver is the real dial-back prover, recording what it was
// asked to dial.
type recordingProver struct {
	p     *dialback.Prover
	mu    sync.Mutex
	addrs []string
}

func (r *recordingProver) Prove(ctx context.Context, key ed25519.PublicKey, addr string) error {
	r.mu.Lock()
	r.addrs = append(r.addrs, addr)
	r.mu.Unlock()
	return r.p.Prove(ctx, key, addr)
}

func (r *recordingProver) dialled() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.addrs)
}

// libp2pNode is a real libp2p host on loopback TCP whose identity is key.
func libp2pNode(t *testing.T, key ed25519.PrivateKey) host.Host {
	t.Helper()
	priv, err := lcrypto.UnmarshalEd25519PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(priv), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestBootstrapCannotBePoisoned: an ordinary user checking in three nodes
// with super_node: true and fake addresses (a third party's, another
// node's, a closed port) is never listed as a super-node, and the
// directory never dials the third party; a genuine super-node on loopback
// is listed once the directory reached it, at the address it reached.
func TestBootstrapCannotBePoisoned(t *testing.T) {
	p, err := dialback.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	rec := &recordingProver{p: p}
	d := newTestDir(t, func(c *Config) {
		c.Prover = rec
		l := DefaultLimits()
		l.DialBackTimeout = 2 * time.Second
		c.Limits = l
	})
	for _, n := range []string{"sam", "mallory"} {
		if a := d.register(n, "a long password"); a.status != http.StatusCreated {
			t.Fatal(a.status, string(a.body))
		}
	}
	superKey := newNodeKey(t)
	genuine := libp2pNode(t, superKey)
	genuineAddr := genuine.Addrs()[0].String()
	other := libp2pNode(t, newNodeKey(t)) // a real node, but not mallory's
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "/ip4/127.0.0.1/tcp/" + strings.TrimPrefix(free.Addr().String(), "127.0.0.1:")
	free.Close()
	thirdParty := "/ip4/203.0.113.7/tcp/4001"

	var fakeIDs []string
	for range 3 {
		k := newNodeKey(t)
		fakeIDs = append(fakeIDs, peerID(k.Public().(ed25519.PublicKey)))
		addrs := []string{thirdParty, other.Addrs()[0].String(), closed, "/dns4/example.org/tcp/4001"}
		if a := d.loginCheckin("mallory", "a long password", k, addrs, true); a.status != http.StatusOK {
			t.Fatalf("mallory's check-in: %d %q", a.status, a.body)
		}
	}
	// Unverified, mallory's nodes are plain ones, at most two of one account.
	var br directory.BootstrapResponse
	d.do(http.MethodGet, "/v1/bootstrap", nil).decode(t, &br)
	if len(br.Peers) != DefaultLimits().BootstrapPerAccount {
		t.Errorf("bootstrap with only mallory's claims = %+v, want %d plain nodes", br, DefaultLimits().BootstrapPerAccount)
	}
	for _, pi := range br.Peers {
		if pi.SuperNode {
			t.Errorf("mallory's unproved node %s is listed as a super-node", pi.PeerID)
		}
	}

	samCert := d.loginCert("sam", "a long password", superKey)
	if a := d.checkin(superKey, samCert, []string{genuineAddr, "/ip4/127.0.0.1/udp/4001/quic-v1"}, true); a.status != http.StatusOK {
		t.Fatalf("sam's check-in: %d %q", a.status, a.body)
	}
	samID := peerID(superKey.Public().(ed25519.PublicKey))
	deadline := time.Now().Add(15 * time.Second)
	for {
		br = directory.BootstrapResponse{}
		d.do(http.MethodGet, "/v1/bootstrap", nil).decode(t, &br)
		if len(br.Peers) > 0 && br.Peers[0].SuperNode {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the genuine super-node was not verified in 15 s: bootstrap %+v, dialled %q", br, rec.dialled())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(br.Peers) != 1 || br.Peers[0].PeerID != samID || !slices.Equal(br.Peers[0].Addrs, []string{genuineAddr}) {
		t.Fatalf("bootstrap = %+v, want only sam's super-node at %s", br, genuineAddr)
	}
	// Wait for mallory's dial-backs to end, then look at what was dialled.
	want := 1 + 3*2 // sam's TCP address; mallory's other node and closed port, each login
	for time.Now().Before(deadline) && len(rec.dialled()) < want {
		time.Sleep(20 * time.Millisecond)
	}
	dialled := rec.dialled()
	for _, a := range dialled {
		if !strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
			t.Errorf("the directory dialled %s, not an address on the IP the login came from", a)
		}
	}
	if len(dialled) != want {
		t.Errorf("dialled %q, want %d dials", dialled, want)
	}
	br = directory.BootstrapResponse{}
	d.do(http.MethodGet, "/v1/bootstrap", nil).decode(t, &br)
	for _, pi := range br.Peers {
		if slices.Contains(fakeIDs, pi.PeerID) {
			t.Errorf("bootstrap lists mallory's node %s: %+v", pi.PeerID, br)
		}
	}
	// Sam's next check-in is listed at once, from the cached verdict.
	d.checkin(superKey, samCert, []string{genuineAddr}, true)
	br = directory.BootstrapResponse{}
	d.do(http.MethodGet, "/v1/bootstrap", nil).decode(t, &br)
	if len(br.Peers) != 1 || !br.Peers[0].SuperNode || len(rec.dialled()) != want {
		t.Errorf("after sam's second check-in bootstrap = %+v with %d dials, want sam listed from the cache", br, len(rec.dialled()))
	}
	m := string(d.do(http.MethodGet, "/metrics", nil).body)
	for _, s := range []string{`peercall_directory_dialbacks_total{result="ok"} 1`, `peercall_directory_dialbacks_total{result="failed"} 6`, `peercall_directory_dialbacks_total{result="cached"} 1`} {
		if !strings.Contains(m, s) {
			t.Errorf("metrics lack %s", s)
		}
	}
}

func TestDialable(t *testing.T) {
	ip := mustAddr("192.0.2.10")
	got := dialable(ip, []string{
		"/ip4/192.0.2.10/tcp/4001",
		"/ip4/192.0.2.10/tcp/4001/p2p/12D3KooWxyz", // same, with the peer ID
		"/ip4/192.0.2.11/tcp/4001",                 // another address: a third party
		"/ip4/192.0.2.10/udp/4001/quic-v1",
		"/ip4/192.0.2.10/tcp/0",
		"/ip4/192.0.2.10/tcp/04001",
		"/ip4/192.0.2.10/tcp/70000",
		"/ip6/::ffff:192.0.2.10/tcp/1",
		"/dns4/example.org/tcp/4001",
		"/ip4/192.0.2.10/tcp/4002",
		"/ip4/192.0.2.10/tcp/4003/ws",
	}, 4)
	if want := []string{"/ip4/192.0.2.10/tcp/4001", "/ip4/192.0.2.10/tcp/4002"}; !slices.Equal(got, want) {
		t.Errorf("dialable = %q, want %q", got, want)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// FuzzDialable: the addresses a login reports are untrusted; whatever they
// are, only TCP addresses on the login's own IP come out, at most the
// bound, each a canonical /ip4|ip6/A/tcp/P.
func FuzzDialable(f *testing.F) {
	for _, s := range []string{"/ip4/192.0.2.10/tcp/4001", "/ip4/192.0.2.10/tcp/4001/p2p/x", "/ip6/2001:db8::1/tcp/1", "/ip4/192.0.2.11/tcp/1", "//", "/ip4/192.0.2.10/tcp/0x10"} {
		f.Add(s, s)
	}
	ip, ip6 := mustAddr("192.0.2.10"), mustAddr("2001:db8::1")
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, from := range []netip.Addr{ip, ip6} {
			out := dialable(from, []string{a, b, a}, 2)
			if len(out) > 2 {
				t.Fatalf("dialable returned %d addresses, bound 2", len(out))
			}
			for _, o := range out {
				parts := strings.Split(o, "/")
				if len(parts) != 5 || parts[3] != "tcp" || parts[2] != from.String() {
					t.Fatalf("dialable(%s, %q, %q) returned %q", from, a, b, o)
				}
				if p, err := strconv.Atoi(parts[4]); err != nil || p < 1 || p > 65535 {
					t.Fatalf("dialable returned port %q", parts[4])
				}
			}
		}
	})
}
