package server

import (
	"crypto/ed25519"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestPeerIDMatchesLibp2p(t *testing.T) {
	for i := range 20 {
		key := newNodeKey(t)
		pub := key.Public().(ed25519.PublicKey)
		lpub, err := lcrypto.UnmarshalEd25519PublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		want, err := peer.IDFromPublicKey(lpub)
		if err != nil {
			t.Fatal(err)
		}
		if got := peerID(pub); got != want.String() {
			t.Fatalf("key %d: peerID = %s, libp2p says %s", i, got, want)
		}
	}
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		setting string
		mutate  func(*Limits)
	}{
		{"LoginFailuresPerName", func(l *Limits) { l.LoginFailuresPerName = 0 }},
		{"LoginFailuresPerAddr", func(l *Limits) { l.LoginFailuresPerAddr = -1 }},
		{"LoginWindow", func(l *Limits) { l.LoginWindow = 0 }},
		{"RegistrationsPerAddr", func(l *Limits) { l.RegistrationsPerAddr = 0 }},
		{"RegistrationWindow", func(l *Limits) { l.RegistrationWindow = -time.Second }},
		{"MaxTrackedKeys", func(l *Limits) { l.MaxTrackedKeys = 0 }},
		{"MaxConcurrentHashes", func(l *Limits) { l.MaxConcurrentHashes = 0 }},
		{"MaxHashQueue", func(l *Limits) { l.MaxHashQueue = -1 }},
		{"MaxHashWait", func(l *Limits) { l.MaxHashWait = -1 }},
		{"RetryAfterMin", func(l *Limits) { l.RetryAfterMin = time.Millisecond }},
		{"RetryAfterMax", func(l *Limits) { l.RetryAfterMax = 0 }},
		{"LoginFailuresPerDevice", func(l *Limits) { l.LoginFailuresPerDevice = 0 }},
		{"BootstrapPerAccount", func(l *Limits) { l.BootstrapPerAccount = 0 }},
		{"BootstrapPerAddr", func(l *Limits) { l.BootstrapPerAddr = 0 }},
		{"DialBackConcurrency", func(l *Limits) { l.DialBackConcurrency = 0 }},
		{"DialBackQueue", func(l *Limits) { l.DialBackQueue = -1 }},
		{"DialBackTimeout", func(l *Limits) { l.DialBackTimeout = 0 }},
		{"DialBackTTL", func(l *Limits) { l.DialBackTTL = 0 }},
		{"DialBackFailTTL", func(l *Limits) { l.DialBackFailTTL = 0 }},
		{"DialBackAddrs", func(l *Limits) { l.DialBackAddrs = 17 }},
	}
	if err := DefaultLimits().validate(); err != nil {
		t.Fatalf("default limits: %v", err)
	}
	for _, tc := range tests {
		l := DefaultLimits()
		tc.mutate(&l)
		err := l.validate()
		if err == nil || !strings.Contains(err.Error(), tc.setting) {
			t.Errorf("%s: validate() = %v, want an error naming it", tc.setting, err)
		}
	}
	d := newTestDir(t, nil)
	l := DefaultLimits()
	l.MaxConcurrentHashes = 0
	if _, err := New(Config{Store: d.store, Key: d.key, Limits: l}); err == nil || !strings.Contains(err.Error(), "MaxConcurrentHashes") {
		t.Errorf("New with a bad limit: %v", err)
	}
	if _, err := New(Config{Store: d.store}); err == nil || !strings.Contains(err.Error(), "Key") {
		t.Errorf("New without a key: %v", err)
	}
	if _, err := New(Config{Key: d.key}); err == nil || !strings.Contains(err.Error(), "Store") {
		t.Errorf("New without a store: %v", err)
	}
}

// TestBudgetTable: a table keeps only spent budgets, forgets one only when
// it is full again, never evicts a spent one for a newcomer (newcomers
// share the overflow budget instead), and refunds restore budgets.
func TestBudgetTable(t *testing.T) {
	var overflowed int
	tbl := newBudgetTable(20, 15*time.Minute, 100, func() { overflowed++ })
	now := time.Now()
	if _, _, ok := tbl.take("victim", now, 16); !ok {
		t.Fatal("the first take of a fresh key was refused")
	}
	if got := tbl.remaining("victim", now); got != 4 {
		t.Fatalf("after spending 16 of 20, remaining = %v", got)
	}
	// A flood of 10,000 other keys, each spending a little.
	for i := range 10_000 {
		tbl.take("name"+strconv.Itoa(i), now, 4)
		if n := tbl.len(); n > 100 {
			t.Fatalf("table holds %d keys, bound 100", n)
		}
	}
	if got := tbl.remaining("victim", now); got != 4 {
		t.Fatalf("after a flood of new keys the victim's budget is %v, want the 4 it had left (not evicted, not reset)", got)
	}
	if overflowed == 0 {
		t.Error("no key was charged to the overflow budget though the table was full")
	}
	// The overflow budget is real: it ran out during the flood.
	if _, wait, ok := tbl.take("newcomer", now, 4); ok || wait <= 0 {
		t.Errorf("a newcomer to a full table after the overflow ran out: ok %v wait %v, want refused with a wait", ok, wait)
	}
	// Refused takes change nothing.
	if _, wait, ok := tbl.take("victim", now, 8); ok || wait != 3*time.Minute {
		t.Errorf("take 8 of 4 left = ok %v, wait %v; want refused, 3m0s (4 units at 20 per 15m)", ok, wait)
	}
	if got := tbl.remaining("victim", now); got != 4 {
		t.Errorf("a refused take changed the budget to %v", got)
	}
	// Budgets refill; full ones are forgotten and make room.
	later := now.Add(16 * time.Minute)
	if _, _, ok := tbl.take("fresh", later, 4); !ok {
		t.Fatal("after a window everything is full again, but a new key was refused")
	}
	if n := tbl.len(); n != 1 {
		t.Fatalf("after a window of refill the table holds %d keys, want 1 (the new one)", n)
	}
	// A refund to full drops the entry.
	tk, _, _ := tbl.take("refunded", later, 4)
	tk.refund(later, 4)
	if got := tbl.remaining("refunded", later); got != 20 || tbl.len() != 1 {
		t.Errorf("after a full refund: remaining %v, %d keys held; want 20 and the key gone", got, tbl.len())
	}
}

func TestClientKey(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		remote, xff string
		trusted     []netip.Prefix
		want        string
	}{
		{"127.0.0.1:5000", "", nil, "127.0.0.1"},
		{"[::ffff:10.0.0.1]:5000", "", nil, "10.0.0.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", nil, "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "", nil, "2001:db8:1:2::/64"},
		{"junk", "", nil, "junk"},
		// X-Forwarded-For counts only from a trusted proxy.
		{"192.0.2.7:1", "198.51.100.1", nil, "192.0.2.7"},
		{"192.0.2.7:1", "198.51.100.1", proxies, "192.0.2.7"},
		{"10.1.1.1:1", "198.51.100.1", proxies, "198.51.100.1"},
		{"10.1.1.1:1", "203.0.113.9, 198.51.100.1", proxies, "198.51.100.1"}, // the client cannot forge what the proxy appends
		{"10.1.1.1:1", "198.51.100.1, 10.2.2.2", proxies, "198.51.100.1"},    // two proxies
		{"10.1.1.1:1", "garbage, 10.2.2.2", proxies, "10.2.2.2"},
		{"10.1.1.1:1", "", proxies, "10.1.1.1"},
		{"[fd00::1]:1", "2001:db8:9::1", proxies, "2001:db8:9::/64"},
	} {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := clientKey(r, tc.trusted); got != tc.want {
			t.Errorf("clientKey(%q, XFF %q) = %q, want %q", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func TestJitter(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 200 {
		d := jitter(time.Second, 5*time.Second)
		if d < time.Second || d > 5*time.Second || d%time.Second != 0 {
			t.Fatalf("jitter = %v, want whole seconds in 1s..5s", d)
		}
		seen[d] = true
	}
	if len(seen) < 4 {
		t.Fatalf("jitter took only %d distinct values in 200 draws", len(seen))
	}
	if d := jitter(2*time.Second, 2*time.Second); d != 2*time.Second {
		t.Fatalf("jitter(2s, 2s) = %v", d)
	}
}
