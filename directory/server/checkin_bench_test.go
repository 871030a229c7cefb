package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory/store"
	"github.com/peercall/peercall/internal/pgtest"
)

// benchNode is one user's node: its key and certificate.
type benchNode struct {
	key  ed25519.PrivateKey
	cert []byte
	seq  atomic.Int64
}

// BenchmarkCheckin measures check-ins per second over HTTP on loopback
// against a directory holding PEERCALL_BENCH_USERS users (default 2000;
// the setup writes each user one by one, minutes for 10000), each with a certificate, on SQLite and on
// PostgreSQL (PEERCALL_TEST_POSTGRES). Each check-in is a new one of a
// random node (signed, newer than its last), so every one is a write.
//
//	go test -run XXX -bench BenchmarkCheckin -benchtime 5s ./directory/server/
func BenchmarkCheckin(b *testing.B) {
	users := 2000
	if v, err := strconv.Atoi(os.Getenv("PEERCALL_BENCH_USERS")); err == nil && v > 0 {
		users = v
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(fmt.Sprintf("%s/users=%d", backend, users), func(b *testing.B) {
			dsn := "sqlite://" + filepath.Join(b.TempDir(), "directory.db")
			if backend == "postgres" {
				dsn = pgtest.SchemaDSN(b)
			}
			ctx := context.Background()
			st, err := store.Open(ctx, dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			key, _ := crypto.GenerateKey()
			limits := DefaultLimits()
			limits.CheckinsPerKey = 1 << 30
			srv, err := New(Config{Store: st, Key: key, Password: cheapParams, Limits: limits,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			hs := httptest.NewServer(srv.Handler())
			defer hs.Close()
			nodes := make([]*benchNode, users)
			now := time.Now()
			for i := range nodes {
				name := fmt.Sprintf("user%06d", i)
				if err := st.CreateUser(ctx, store.User{Name: name, Display: name, PasswordHash: "x", Created: now}); err != nil {
					b.Fatal(err)
				}
				nk := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i), byte(i >> 8), byte(i >> 16)}, 11)[:32])
				serial, _ := st.NextSerial(ctx)
				c, err := crypto.IssueCertificate(key, name, nk.Public().(ed25519.PublicKey), serial, now, time.Hour)
				if err != nil {
					b.Fatal(err)
				}
				if err := st.AddCertificate(ctx, store.Certificate{Serial: serial, Username: name, PeerKey: c.PeerKey, Issued: c.Issued, Expires: c.Expires, Raw: c.Marshal()}); err != nil {
					b.Fatal(err)
				}
				nodes[i] = &benchNode{key: nk, cert: c.Marshal()}
			}
			client := hs.Client()
			client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
			var next atomic.Int64
			addrs := []string{"/ip4/127.0.0.1/tcp/7070", "/ip4/127.0.0.1/udp/7070/quic-v1"}
			// Check-ins carry the time of now, not of the setup's start:
			// 100k users take longer to write than the 5-minute window.
			now = time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := nodes[int(next.Add(7919))%users]
					at := now.Add(time.Duration(n.seq.Add(1)) * time.Microsecond)
					body, _ := json.Marshal(checkinRequest(n.key, n.cert, at, addrs, false, false))
					resp, err := client.Post(hs.URL+"/v1/checkin", "application/json", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("check-in: %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checkins/s")
		})
	}
}
