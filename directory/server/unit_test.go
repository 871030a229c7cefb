package server

import (
	"crypto/ed25519"
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
