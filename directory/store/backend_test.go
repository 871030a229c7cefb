package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// backend is one Store implementation under test. newDSN returns the URL
// of a fresh, empty database that exists until the test ends; tests Open
// it (once or several times).
type backend struct {
	name    string
	newDSN  func(t testing.TB) string
	require func(t testing.TB) // skips the test when the backend cannot run here
}

var backends = []backend{
	{name: "sqlite", newDSN: sqliteDSN, require: func(testing.TB) {}},
	{name: "postgres", newDSN: postgresDSN, require: func(t testing.TB) { requirePostgres(t) }},
}

// sqliteDSN is a database file in the test's temporary directory.
func sqliteDSN(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "directory.db")
}

// postgresSkip is what PostgreSQL tests say when they have no server.
const postgresSkip = "PostgreSQL store tests need PEERCALL_TEST_POSTGRES (run `make test`, which starts a local server)"

// requirePostgres returns PEERCALL_TEST_POSTGRES, or skips the test.
func requirePostgres(t testing.TB) string {
	base := os.Getenv("PEERCALL_TEST_POSTGRES")
	if base == "" {
		t.Skip(postgresSkip)
	}
	return base
}

// postgresDSN creates a schema with a random name in the database of
// PEERCALL_TEST_POSTGRES and returns that URL with search_path set to it, so
// that concurrent test runs never see each other's tables. The schema is
// dropped when the test ends.
func postgresDSN(t testing.TB) string {
	base := requirePostgres(t)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("PEERCALL_TEST_POSTGRES must be a postgres:// URL, as scripts/postgres.sh prints (got a value that is not: %v)", err)
	}
	// The admin connection is a plain pgx one: drop pgxpool's settings.
	admin := *u
	aq := admin.Query()
	for k := range aq {
		if strings.HasPrefix(k, "pool_") {
			aq.Del(k)
		}
	}
	admin.RawQuery = aq.Encode()
	base = admin.String()

	var b [8]byte
	rand.Read(b[:])
	schema := "peercall_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to PEERCALL_TEST_POSTGRES: %v (is the server running? `bash scripts/postgres.sh` starts one)", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openStore opens dsn and closes the store when the test ends.
func openStore(t testing.TB, dsn string) Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}
