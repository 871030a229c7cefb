package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory/store"
)

// BenchmarkThrottleFlood: the throttle's cost per login while a flood
// keeps the name table full of spent budgets (65,536 names): "tracked"
// logins of names it holds, "new" logins of names it has no room for
// (charged to the overflow budget), "refused" logins the address budget
// refuses (they never reach the name table). Each admitted login is
// refunded, so the table stays as it is.
func BenchmarkThrottleFlood(b *testing.B) {
	quietDefaultLogger(b)
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(b.TempDir(), "d.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	key, _ := crypto.GenerateKey()
	s, err := New(Config{Store: st, Key: key, Password: cheapParams, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	max := DefaultLimits().MaxTrackedKeys
	peerKey := make([]byte, 32)
	for i := range max {
		s.admitLogin(now, fmt.Sprintf("10.%d.%d.1", i/256%256, i%256), fmt.Sprintf("name%d", i), peerKey, false)
	}
	for range DefaultLimits().LoginFailuresPerAddr {
		s.admitLogin(now, "10.0.0.1", "spender", peerKey, false)
	}
	for _, tc := range []struct {
		name       string
		addr, user func(i int) string
	}{
		{"tracked", func(i int) string { return fmt.Sprintf("10.9.%d.%d", i/256%256, i%256) }, func(i int) string { return fmt.Sprintf("name%d", i) }},
		{"new", func(i int) string { return fmt.Sprintf("10.8.%d.%d", i/256%256, i%256) }, func(i int) string { return fmt.Sprintf("new%d", i) }},
		{"refused", func(int) string { return "10.0.0.1" }, func(i int) string { return fmt.Sprintf("other%d", i) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			addrs, users := make([]string, 4096), make([]string, 4096)
			for i := range addrs {
				addrs[i], users[i] = tc.addr(i), tc.user(i)
			}
			b.ResetTimer()
			for i := range b.N {
				ch, _ := s.admitLogin(now, addrs[i%4096], users[i%4096], peerKey, false)
				ch.refund(now, failCost)
			}
		})
	}
}
