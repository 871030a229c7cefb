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
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory/store"
)

// BenchmarkLookupsDuringCheckinFlood: lookups per second with the
// directory's default limits, quiet and while one node key floods
// check-ins from 4 connections as fast as they are answered (its budget
// answers nearly all of them 429). Issue 11 asks that the flood be
// throttled without slowing lookups: compare the two lookups/s figures.
// Both share the machine with the flood's own clients, so the flood run
// also measures that cost; floods/s and throttled say what it sent.
func BenchmarkLookupsDuringCheckinFlood(b *testing.B) {
	quietDefaultLogger(b)
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "directory.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	key, _ := crypto.GenerateKey()
	srv, err := New(Config{Store: st, Key: key, Password: cheapParams, Limits: DefaultLimits(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	const users = 1000
	now := time.Now()
	for i := range users {
		name := fmt.Sprintf("user%04d", i)
		if err := st.CreateUser(ctx, store.User{Name: name, Display: name, PasswordHash: "x", Created: now}); err != nil {
			b.Fatal(err)
		}
	}
	flooder, _ := crypto.GenerateKey()
	serial, _ := st.NextSerial(ctx)
	c, err := crypto.IssueCertificate(key, "user0000", flooder.Public().(ed25519.PublicKey), serial, now, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.AddCertificate(ctx, store.Certificate{Serial: serial, Username: "user0000", PeerKey: c.PeerKey, Issued: c.Issued, Expires: c.Expires, Raw: c.Marshal()}); err != nil {
		b.Fatal(err)
	}
	cert := c.Marshal()
	client := hs.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64

	for _, flood := range []bool{false, true} {
		name := "quiet"
		if flood {
			name = "flood"
		}
		b.Run(name, func(b *testing.B) {
			var sent, throttled atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if flood {
				var seq atomic.Int64
				for range 4 {
					wg.Go(func() {
						for {
							select {
							case <-stop:
								return
							default:
							}
							at := time.Now().Add(time.Duration(seq.Add(1)) * time.Microsecond)
							body, _ := json.Marshal(checkinRequest(flooder, cert, at, nil, false, false))
							resp, err := client.Post(hs.URL+"/v1/checkin", "application/json", bytes.NewReader(body))
							if err != nil {
								return
							}
							io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							sent.Add(1)
							if resp.StatusCode == http.StatusTooManyRequests {
								throttled.Add(1)
							}
						}
					})
				}
			}
			var next atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(fmt.Sprintf("%s/v1/users/user%04d", hs.URL, next.Add(1)%users))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("lookup: %d", resp.StatusCode)
						return
					}
				}
			})
			el := b.Elapsed().Seconds()
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(b.N)/el, "lookups/s")
			b.ReportMetric(float64(sent.Load())/el, "floods/s")
			b.ReportMetric(float64(throttled.Load()), "throttled")
		})
	}
}
