package server

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/lookalike"
	"github.com/peercall/peercall/directory/store"
	"github.com/peercall/peercall/internal/pgtest"
)

const (
	benchUsers   = 100_000
	benchClients = 64
	// benchHash is a fixed PHC string: lookups never verify it.
	benchHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
)

func benchName(i int) string { return fmt.Sprintf("user%06d", i) }

// benchStore is a SQLite store of benchUsers users, built once and kept in
// the temporary directory for later runs. The users are inserted in one
// transaction straight into the store's users table (the fast path; the
// server's writes go through CreateUser), so this depends on the SQLite
// schema of directory/store.
func benchStore(b *testing.B) store.Store {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("peercall-server-bench-%d.db", benchUsers))
	if st, err := store.Open(ctx, "sqlite://"+path); err == nil {
		if _, err := st.User(ctx, benchName(benchUsers-1)); err == nil {
			return st
		}
		st.Close()
	}
	start := time.Now()
	tmp := path + ".building"
	os.Remove(tmp)
	st, err := store.Open(ctx, "sqlite://"+tmp) // creates the schema
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", "file:"+tmp+"?_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO users (name, display, password_hash, created) VALUES (?, ?, ?, ?)`)
	if err != nil {
		b.Fatalf("the store's schema changed? %v", err)
	}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	for i := range benchUsers {
		if _, err := stmt.Exec(benchName(i), benchName(i), benchHash, created); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	db.Close()
	os.Remove(tmp + "-wal")
	os.Remove(tmp + "-shm")
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %s with %d users in %v", path, benchUsers, time.Since(start).Round(time.Millisecond))
	st, err = store.Open(ctx, "sqlite://"+path)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// benchPostgresStore is a PostgreSQL store of benchUsers users in the
// schema peercall_bench_users_N of PEERCALL_TEST_POSTGRES's database, built
// once with COPY and kept for later runs (drop the schema to rebuild).
func benchPostgresStore(b *testing.B) store.Store {
	b.Helper()
	ctx := context.Background()
	u, err := url.Parse(pgtest.Require(b))
	if err != nil {
		b.Fatal(err)
	}
	schema := fmt.Sprintf("peercall_bench_users_%d", benchUsers)
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		b.Fatalf("connect to PEERCALL_TEST_POSTGRES: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err := store.Open(ctx, u.String()) // creates the schema's tables
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.User(ctx, benchName(benchUsers-1)); err == nil {
		return st
	}
	start := time.Now()
	if _, err := conn.Exec(ctx, "TRUNCATE "+schema+".users CASCADE"); err != nil {
		b.Fatal(err)
	}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([][]any, benchUsers)
	for i := range rows {
		n := benchName(i)
		rows[i] = []any{n, n, benchHash, created, lookalike.Skeleton(n)}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{schema, "users"}, []string{"name", "display", "password_hash", "created", "skeleton"}, pgx.CopyFromRows(rows)); err != nil {
		b.Fatalf("the store's schema changed? %v", err)
	}
	conn.Exec(ctx, "ANALYZE "+schema+".users")
	b.Logf("built schema %s with %d users in %v", schema, benchUsers, time.Since(start).Round(time.Millisecond))
	return st
}

// BenchmarkLookup100k64Clients: GET /v1/users/{name} on a store of 100,000
// users (SQLite; PostgreSQL too when PEERCALL_TEST_POSTGRES is set), 64
// client goroutines over keep-alive connections to the real handler on a
// loopback listener. Reports lookups/s and the CPU time of the process
// (server and clients) per lookup.
//
//	go test -run '^$' -bench Lookup100k64Clients -benchtime 5s ./directory/server/
func BenchmarkLookup100k64Clients(b *testing.B) {
	quietDefaultLogger(b)
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			var st store.Store
			if backend == "sqlite" {
				st = benchStore(b)
			} else {
				if os.Getenv("PEERCALL_TEST_POSTGRES") == "" {
					b.Skip(pgtest.SkipMessage)
				}
				st = benchPostgresStore(b)
			}
			defer st.Close()
			benchLookups(b, st)
		})
	}
}

func benchLookups(b *testing.B, st store.Store) {
	key, _ := crypto.GenerateKey()
	srv, err := New(Config{Store: st, Key: key, Password: cheapParams, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	for _, tls := range []bool{false, true} {
		name := "http"
		if tls {
			name = "https"
		}
		b.Run(name, func(b *testing.B) {
			hs := httptest.NewUnstartedServer(srv.Handler())
			var tr *http.Transport
			if tls {
				cert, err := SelfSignedTLS(key, nil)
				if err != nil {
					b.Fatal(err)
				}
				hs.TLS = TLSConfig(cert)
				hs.StartTLS()
				tr = &http.Transport{TLSClientConfig: directory.PinnedTLSConfig(key.Public().(ed25519.PublicKey))}
			} else {
				hs.Start()
				tr = &http.Transport{}
			}
			defer hs.Close()
			tr.MaxIdleConnsPerHost = benchClients
			tr.MaxConnsPerHost = benchClients
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			var seed atomic.Uint64
			var failed atomic.Int64
			b.SetParallelism((benchClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			cpu0 := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(seed.Add(1), 7))
				buf := make([]byte, 4096)
				for pb.Next() {
					n := benchName(r.IntN(benchUsers))
					resp, err := client.Get(hs.URL + "/v1/users/" + n)
					if err != nil {
						failed.Add(1)
						continue
					}
					m, _ := io.ReadFull(resp.Body, buf)
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || !strings.Contains(string(buf[:m]), `"username":"`+n+`"`) {
						failed.Add(1)
					}
				}
			})
			b.StopTimer()
			if f := failed.Load(); f > 0 {
				b.Fatalf("%d of %d lookups failed", f, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
			// CPU time of the whole process (server and clients) per lookup:
			// unlike the rate, it does not depend on what else the machine runs.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/lookup")
		})
	}
}

// BenchmarkRegister: POST /v1/register at the default (OWASP) argon2id
// parameters through the real handler and a fresh SQLite store. "serial"
// is one client, and reports the share of its time spent in argon2id;
// "parallel8" is eight clients. Reports registrations/s.
func BenchmarkRegister(b *testing.B) {
	quietDefaultLogger(b) // store.Open logs its migrations there
	for _, clients := range []int{1, 8} {
		name := "serial"
		if clients > 1 {
			name = fmt.Sprintf("parallel%d", clients)
		}
		b.Run(name, func(b *testing.B) {
			st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(b.TempDir(), "d.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			key, _ := crypto.GenerateKey()
			reg := prometheus.NewRegistry()
			l := DefaultLimits()
			l.RegistrationsPerAddr = 1 << 30
			l.MaxHashQueue = 64
			l.MaxHashWait = time.Minute
			srv, err := New(Config{Store: st, Key: key, Limits: l, Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			hs := httptest.NewServer(srv.Handler())
			defer hs.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: clients}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			var next atomic.Int64
			var failed atomic.Int64
			b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
			if clients == 1 {
				b.SetParallelism(1)
			}
			hashBefore := hashSecondsSum(b, reg)
			b.ResetTimer()
			work := func() {
				i := next.Add(1)
				body := fmt.Sprintf(`{"username":"bench%d","password":"password number %d"}`, i, i)
				resp, err := client.Post(hs.URL+"/v1/register", "application/json", strings.NewReader(body))
				if err != nil {
					failed.Add(1)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					failed.Add(1)
				}
			}
			if clients == 1 {
				for range b.N {
					work()
				}
			} else {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						work()
					}
				})
			}
			b.StopTimer()
			if f := failed.Load(); f > 0 {
				b.Fatalf("%d of %d registrations failed", f, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
			if clients == 1 {
				share := (hashSecondsSum(b, reg) - hashBefore) / b.Elapsed().Seconds()
				b.ReportMetric(100*share, "%argon2")
			}
		})
	}
}

// quietDefaultLogger silences slog's default logger for the benchmark, so
// that log lines do not break up the benchmark's result lines.
func quietDefaultLogger(b *testing.B) {
	old := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	b.Cleanup(func() { slog.SetDefault(old) })
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hashSecondsSum reads the total of peercall_directory_hash_seconds.
func hashSecondsSum(b *testing.B, reg *prometheus.Registry) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "peercall_directory_hash_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleSum()
		}
	}
	return 0
}

// BenchmarkHashPassword is one argon2id hash at the default parameters,
// for comparison with BenchmarkRegister.
func BenchmarkHashPassword(b *testing.B) {
	p := crypto.DefaultPasswordParams()
	for b.Loop() {
		if _, err := crypto.HashPassword("password number 1", p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/hash")
}
