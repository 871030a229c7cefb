package server

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/peercall/peercall/directory/store"
)

// backends are the stores the server is tested on: SQLite always,
// PostgreSQL when PEERCALL_TEST_POSTGRES names a server.
var backends = []string{"sqlite", "postgres"}

// openBackend opens an empty store of the named kind for one test.
func openBackend(t *testing.T, kind string) store.Store {
	t.Helper()
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "directory.db")
	if kind == "postgres" {
		dsn = postgresSchema(t)
	}
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open %s store: %v", kind, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// postgresSchema creates a schema of its own for the test in the database
// of PEERCALL_TEST_POSTGRES, dropped at the end, and returns a URL using it.
func postgresSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("PEERCALL_TEST_POSTGRES")
	if base == "" {
		t.Skip("PostgreSQL tests need PEERCALL_TEST_POSTGRES (eval \"$(bash scripts/postgres.sh)\" starts a local server and prints it)")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("PEERCALL_TEST_POSTGRES: %v", err)
	}
	schema := "server_test_" + strings.ToLower(rand.Text()[:12])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to PEERCALL_TEST_POSTGRES: %v (is the server running? bash scripts/postgres.sh starts one)", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, base); err == nil {
			conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			conn.Close(ctx)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
