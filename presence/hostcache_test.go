package presence

import (
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/crypto"
)

func testPeerID(t testing.TB, i int) peer.ID {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, fmt.Sprintf("peer-%d", i))
	id, err := PeerIDOf(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestHostCacheKeepsMostRecent fills the cache past its limit, saves and
// reloads it: the most recently seen peers survive, with their addresses
// and certificates.
func TestHostCacheKeepsMostRecent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers.json")
	c, err := OpenHostCache(path)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	total := MaxHostCacheEntries + 50
	for i := range total {
		a := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 1000+i))
		c.Seen(testPeerID(t, i), []ma.Multiaddr{a}, base.Add(time.Duration(i)*time.Second))
	}
	dirPriv, _ := crypto.GenerateKey()
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, fmt.Sprintf("peer-%d", total-1))
	peerKey := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	cert, err := crypto.IssueCertificate(dirPriv, "bob", peerKey, 1, base, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c.Remember(testPeerID(t, total-1), cert, base.Add(time.Hour))
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c2, err := OpenHostCache(path)
	if err != nil {
		t.Fatal(err)
	}
	entries := c2.Entries()
	if len(entries) != MaxHostCacheEntries {
		t.Fatalf("%d entries after reload, want %d", len(entries), MaxHostCacheEntries)
	}
	if entries[0].PeerID != testPeerID(t, total-1).String() || entries[0].Username != "bob" {
		t.Errorf("most recent entry %+v, want bob's peer", entries[0])
	}
	oldest := entries[len(entries)-1]
	if oldest.PeerID != testPeerID(t, 50).String() {
		t.Errorf("oldest kept entry %s, want peer 50 (peers 0..49 dropped)", oldest.PeerID)
	}
	got, id, addrs, ok := c2.Certificate("bob")
	if !ok || id != testPeerID(t, total-1) || got.Serial != 1 || len(addrs) != 1 {
		t.Errorf("cached certificate of bob: %v %v %v %v", got, id, addrs, ok)
	}
	// Verified (admission's Config.Known): the peer whose certificate was
	// remembered, across the reload; not one only seen at an address.
	if !c2.Verified(testPeerID(t, total-1)) {
		t.Error("Verified: false for bob's peer, whose certificate was remembered")
	}
	if c2.Verified(testPeerID(t, total-2)) || c2.Verified(testPeerID(t, 0)) {
		t.Error("Verified: true for a peer only seen (or dropped), with no certificate")
	}
	if peers := c2.Peers(testPeerID(t, total-1)); len(peers) != MaxHostCacheEntries-1 {
		t.Errorf("Peers without self: %d, want %d", len(peers), MaxHostCacheEntries-1)
	}
}

func TestParseHostCacheRefuses(t *testing.T) {
	id := testPeerID(t, 1).String()
	tests := []struct{ name, in string }{
		{"unknown field", `{"version":1,"peers":[],"x":1}`},
		{"wrong version", `{"version":2,"peers":[]}`},
		{"bad peer id", `{"version":1,"peers":[{"peer_id":"nope","addrs":[],"seen":"2026-01-01T00:00:00Z"}]}`},
		{"bad addr", `{"version":1,"peers":[{"peer_id":"` + id + `","addrs":["/nope"],"seen":"2026-01-01T00:00:00Z"}]}`},
		{"bad certificate", `{"version":1,"peers":[{"peer_id":"` + id + `","addrs":[],"seen":"2026-01-01T00:00:00Z","username":"bob","certificate":"AAAA"}]}`},
		{"trailing data", `{"version":1,"peers":[]} {}`},
		{"too large", `{"version":1,"peers":[` + strings.Repeat(" ", maxHostCacheBytes) + `]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseHostCache([]byte(tc.in)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func FuzzParseHostCache(f *testing.F) {
	f.Add([]byte(`{"version":1,"peers":[]}`))
	f.Add([]byte(`{"version":1,"peers":[{"peer_id":"12D3KooWGRUVh8FvkJ2hRHs6yn8dBNz9zgaz6tYw3ynU1VvCh2Dq","addrs":["/ip4/127.0.0.1/tcp/7070"],"seen":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"version":1`))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseHostCache(data)
		if err != nil {
			return
		}
		if len(entries) > MaxHostCacheEntries {
			t.Fatalf("%d entries accepted", len(entries))
		}
		for _, e := range entries {
			if _, err := peer.Decode(e.PeerID); err != nil {
				t.Fatalf("accepted peer ID %q", e.PeerID)
			}
		}
	})
}
