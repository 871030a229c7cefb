package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// benchUsers is how many users the lookup benchmark's store holds.
const benchUsers = 100_000

// benchGoroutines is how many goroutines look users up at once, about the
// concurrency of a loaded directory server.
const benchGoroutines = 64

func benchName(i int) string { return fmt.Sprintf("user%06d", i) }

// BenchmarkUserLookup measures User on a store of 100,000 users with 64
// goroutines asking at once, and reports lookups/s.
func BenchmarkUserLookup(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			be.require(b)
			s := benchLookupStore(b, be)

			ctx := context.Background()
			var seed atomic.Uint64
			b.SetParallelism((benchGoroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			cpu0 := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(seed.Add(1), 42))
				for pb.Next() {
					name := benchName(r.IntN(benchUsers))
					u, err := s.User(ctx, name)
					if err != nil || u.Name != name {
						b.Errorf("User(%q) = %q, %v", name, u.Name, err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
			reportCPU(b, cpu0)
		})
	}
}

// BenchmarkUserPage measures what the directory's GET /v1/users/{name}
// asks of the store on the 100,000-user store with 64 goroutines: "calls"
// is User, Certificates and Sightings one after another, "UserPage" the one
// read of UserPager. Reports pages/s.
func BenchmarkUserPage(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			be.require(b)
			s := benchLookupStore(b, be)
			now := time.Now()
			q := PageQuery{Now: now, CertLimit: 8, Since: now.Add(-time.Hour), SightingLimit: 8}
			ways := []struct {
				name string
				read func(ctx context.Context, name string) error
			}{
				{"calls", func(ctx context.Context, name string) error {
					if _, err := s.User(ctx, name); err != nil {
						return err
					}
					if _, err := s.Certificates(ctx, name, q.Now, q.CertLimit); err != nil {
						return err
					}
					_, err := s.Sightings(ctx, name, q.Since, q.SightingLimit)
					return err
				}},
				{"UserPage", func(ctx context.Context, name string) error {
					_, err := s.(UserPager).UserPage(ctx, name, q)
					return err
				}},
			}
			for _, way := range ways {
				b.Run(way.name, func(b *testing.B) {
					ctx := context.Background()
					var seed atomic.Uint64
					b.SetParallelism((benchGoroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
					cpu0 := processCPU()
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						r := rand.New(rand.NewPCG(seed.Add(1), 43))
						for pb.Next() {
							if err := way.read(ctx, benchName(r.IntN(benchUsers))); err != nil {
								b.Error(err)
								return
							}
						}
					})
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
					reportCPU(b, cpu0)
				})
			}
		})
	}
}

// benchLookupStore opens a store of benchUsers users for be.
func benchLookupStore(b *testing.B, be backend) Store {
	start := time.Now()
	var s Store
	switch be.name {
	case "sqlite":
		s = openStore(b, "sqlite://"+cachedSQLiteBenchDB(b))
	case "postgres":
		s = openStore(b, be.newDSN(b))
		fillPostgres(b, s.(*postgresStore))
	default:
		b.Fatalf("no benchmark store for backend %s", be.name)
	}
	b.Logf("store of %d users ready in %v", benchUsers, time.Since(start).Round(time.Millisecond))
	return s
}

// BenchmarkCreateUser measures CreateUser, each one durable before it
// returns: "serial" is one registration after another (the commit latency),
// "parallel64" is 64 goroutines registering distinct names at once (the
// throughput). Reports creates/s.
func BenchmarkCreateUser(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			be.require(b)
			b.Run("serial", func(b *testing.B) {
				s := openStore(b, be.newDSN(b))
				ctx := context.Background()
				b.ResetTimer()
				for i := range b.N {
					if err := s.CreateUser(ctx, User{Name: benchName(i), Display: benchName(i), PasswordHash: fakeHash, Created: t0}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
			})
			b.Run("parallel64", func(b *testing.B) {
				s := openStore(b, be.newDSN(b))
				ctx := context.Background()
				var next atomic.Int64
				b.SetParallelism((benchGoroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						name := benchName(int(next.Add(1)))
						if err := s.CreateUser(ctx, User{Name: name, Display: name, PasswordHash: fakeHash, Created: t0}); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
			})
		})
	}
}

// processCPU is the CPU time this process has used (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time per operation since cpu0: on a
// machine shared with other work it says more than the wall clock does.
// The database server's CPU (PostgreSQL) is not included.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
}

// cachedSQLiteBenchDB returns an SQLite database of benchUsers users, kept
// under os.TempDir (named by schema version) so later runs skip building it.
// Benchmarks only read it.
func cachedSQLiteBenchDB(b *testing.B) string {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("peercall-store-bench-v%d-%d.db", SchemaVersion, benchUsers))
	if sqliteUserCount(path) == benchUsers {
		return path
	}
	// Build beside it and rename, so concurrent runs never see half a file.
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".building-*")
	if err != nil {
		b.Fatal(err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	st, err := OpenSQLite(context.Background(), tmp.Name())
	if err != nil {
		b.Fatal(err)
	}
	s := st.(*sqliteStore)
	start := time.Now()
	if err := fillSQLite(s); err != nil {
		s.Close()
		b.Fatal(err)
	}
	if _, err := s.writer.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %s with %d users in %v", path, benchUsers, time.Since(start).Round(time.Millisecond))
	if err := os.Rename(tmp.Name(), path); err != nil {
		b.Fatal(err)
	}
	os.Remove(tmp.Name() + "-wal")
	os.Remove(tmp.Name() + "-shm")
	return path
}

// sqliteUserCount is how many users the database at path holds, or -1.
func sqliteUserCount(path string) int {
	if _, err := os.Stat(path); err != nil {
		return -1
	}
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		return -1
	}
	defer s.Close()
	var n int
	if err := s.(*sqliteStore).reader.QueryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil {
		return -1
	}
	return n
}

// fillSQLite inserts benchUsers users in one transaction: the fast path
// for building a benchmark store, not the way the directory writes.
func fillSQLite(s *sqliteStore) error {
	tx, err := s.writer.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.Prepare(`INSERT INTO users (name, display, password_hash, created) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i := range benchUsers {
		if _, err := stmt.Exec(benchName(i), benchName(i), fakeHash, t0.UnixMicro()); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// fillPostgres copies benchUsers users in with COPY.
func fillPostgres(b *testing.B, s *postgresStore) {
	rows := make([][]any, benchUsers)
	for i := range rows {
		rows[i] = []any{benchName(i), benchName(i), fakeHash, t0}
	}
	_, err := s.pool.CopyFrom(context.Background(), pgx.Identifier{"users"},
		[]string{"name", "display", "password_hash", "created"}, pgx.CopyFromRows(rows))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(context.Background(), `ANALYZE users`); err != nil {
		b.Fatal(err)
	}
}
