package dirlink_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/server"
	"github.com/peercall/peercall/dirlink"
	"github.com/peercall/peercall/internal/callharness"
)

func TestCheckinAddrs(t *testing.T) {
	many := func(prefix string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, prefix+string(rune('a'+i)))
		}
		return out
	}
	for _, tc := range []struct {
		name             string
		direct, circuits []string
		want             []string
	}{
		{"sorted, no duplicates", []string{"b", "a", "b"}, []string{"z", "y", "z"}, []string{"a", "b", "y", "z"}},
		{"none", nil, nil, nil},
		{"circuits capped at four", []string{"a"}, many("c", 6), append([]string{"a"}, many("c", 4)...)},
		{"direct fill the rest", many("d", 20), many("c", 2), append(many("d", directory.MaxCheckinAddrs-2), many("c", 2)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := dirlink.CheckinAddrs(tc.direct, tc.circuits)
			if !slices.Equal(got, tc.want) {
				t.Errorf("CheckinAddrs(%v, %v) = %v, want %v", tc.direct, tc.circuits, got, tc.want)
			}
			if len(got) > directory.MaxCheckinAddrs {
				t.Errorf("%d addresses, over directory.MaxCheckinAddrs", len(got))
			}
		})
	}
}

// addrs is a node's changing address list.
type addrs struct {
	mu sync.Mutex
	a  []string
}

func (a *addrs) set(s ...string) { a.mu.Lock(); a.a = s; a.mu.Unlock() }
func (a *addrs) get() []ma.Multiaddr {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []ma.Multiaddr
	for _, s := range a.a {
		out = append(out, ma.StringCast(s))
	}
	return out
}

func newLink(t *testing.T, d *callharness.Directory, u *callharness.User, mutate func(*dirlink.Config)) *dirlink.Link {
	t.Helper()
	key, _, err := u.Home.IdentityKey()
	if err != nil {
		t.Fatal(err)
	}
	c := d.Client(t)
	t.Cleanup(func() { c.Close() })
	cfg := dirlink.Config{Directory: c, Key: key, DirectoryKey: d.Key, Home: u.Home,
		Certificate: func() (*crypto.Certificate, error) { return u.Home.ValidCertificate(d.Key, key, time.Now()) },
		Addrs:       func() []ma.Multiaddr { return nil }, Logger: callharness.Logger()}
	if mutate != nil {
		mutate(&cfg)
	}
	l, err := dirlink.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// listedAs waits (at most 10 s) until the directory lists user's one node
// at want (none when want is nil).
func listedAs(t *testing.T, c *directory.Client, user string, want []string) {
	t.Helper()
	var last []directory.NodeInfo
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(20 * time.Millisecond) {
		u, err := c.User(t.Context(), user)
		if err != nil {
			continue
		}
		last = u.Nodes
		if want == nil && len(u.Nodes) == 0 {
			return
		}
		if len(u.Nodes) == 1 && slices.Equal(slices.Sorted(slices.Values(u.Nodes[0].Addrs)), want) {
			return
		}
	}
	t.Fatalf("after 10 s the directory lists %s as %+v, want addresses %v", user, last, want)
}

// TestLinkChecksInFollowsAndWithdraws: the link checks in at start, checks
// in the new addresses after a change (CheckInNow), and withdraws at Close.
func TestLinkChecksInFollowsAndWithdraws(t *testing.T) {
	d := callharness.StartDirectory(t)
	bob := d.NewUser(t, "bob")
	var a addrs
	a.set("/ip4/127.0.0.1/tcp/4001")
	l := newLink(t, d, bob, func(c *dirlink.Config) { c.Addrs = a.get })
	l.Start()
	defer l.Close()
	c := d.Client(t)
	defer c.Close()
	listedAs(t, c, "bob", []string{"/ip4/127.0.0.1/tcp/4001"})
	if st := l.CheckinStatus(); st.Err != nil || st.Last.IsZero() || st.Addrs != 1 || !st.Expires.After(time.Now()) {
		t.Errorf("check-in status %+v, want one address accepted and unexpired", st)
	}
	a.set("/ip4/127.0.0.2/tcp/4002", "/ip4/127.0.0.1/udp/4002/quic-v1")
	l.CheckInNow()
	listedAs(t, c, "bob", []string{"/ip4/127.0.0.1/udp/4002/quic-v1", "/ip4/127.0.0.2/tcp/4002"})
	l.Close()
	if u, err := c.User(t.Context(), "bob"); err != nil || len(u.Nodes) != 0 {
		t.Fatalf("after Close the directory lists %+v, %v; want no node", u.Nodes, err)
	}
}

// TestLinkRenews: with 10 s certificates the link renews bob's before it
// expires, saves it in his home, says so in RenewalStatus and calls
// OnRenewed.
func TestLinkRenews(t *testing.T) {
	d := callharness.StartDirectoryWith(t, func(c *server.Config) { c.CertValidity = server.MinCertValidity })
	bob := d.NewUser(t, "bob")
	first, err := bob.Home.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	var renewed atomic.Int32
	l := newLink(t, d, bob, func(c *dirlink.Config) { c.OnRenewed = func() { renewed.Add(1) } })
	if at := dirlink.RenewAt(first); at.Before(first.Issued) || !at.Before(first.Expires) {
		t.Fatalf("RenewAt %v is outside the certificate's life [%v, %v]", at, first.Issued, first.Expires)
	}
	l.Start()
	defer l.Close()
	deadline := time.Now().Add(2 * server.MinCertValidity)
	for {
		cert, err := bob.Home.Certificate()
		if err == nil && cert.Serial != first.Serial && renewed.Load() > 0 {
			if !cert.Expires.After(first.Expires) {
				t.Errorf("renewed certificate expires %v, not after the first's %v", cert.Expires, first.Expires)
			}
			if st := l.RenewalStatus(); st.Err != nil || st.Last.IsZero() {
				t.Errorf("renewal status %+v after a renewal", st)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no renewal within %v: status %+v, OnRenewed %d", 2*server.MinCertValidity, l.RenewalStatus(), renewed.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLinkRevocations: after bob logs out everywhere, alice's link lists
// his certificate as revoked within its refresh, caches the list, and a
// link without a directory reads the cache.
func TestLinkRevocations(t *testing.T) {
	d := callharness.StartDirectory(t)
	alice, bob := d.NewUser(t, "alice"), d.NewUser(t, "bob")
	bobCert, err := bob.Home.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	l := newLink(t, d, alice, func(c *dirlink.Config) { c.RevocationRefresh = 100 * time.Millisecond })
	l.Start()
	defer l.Close()
	if l.Revoked(bobCert.Serial) {
		t.Fatal("bob's certificate is revoked before his logout")
	}
	c := d.Client(t)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Logout(ctx, "bob", callharness.Password); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !l.Revoked(bobCert.Serial); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("bob's certificate not revoked 10 s after his logout everywhere")
		}
	}
	entries, fetched, errText := l.RevocationStatus()
	if entries == 0 || fetched.IsZero() || errText != "" {
		t.Errorf("revocation status %d entries, fetched %v, error %q", entries, fetched, errText)
	}
	l.Close()
	if _, err := os.Stat(alice.Home.Path(dirlink.RevocationsFile)); err != nil {
		t.Fatalf("the revocation list is not cached: %v", err)
	}
	offline := newLink(t, d, alice, func(c *dirlink.Config) { c.Directory = nil })
	offline.Start()
	defer offline.Close()
	if !offline.Revoked(bobCert.Serial) {
		t.Error("a link without a directory does not read the cached list")
	}
}
