package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// SkipMessage is what PostgreSQL tests say when they have no server.
const SkipMessage = "PostgreSQL tests need PEERCALL_TEST_POSTGRES (run `make test`, which starts a local server)"

// NoPostgresEnv, set to 1, is a developer's explicit opt-out of the
// PostgreSQL tests (scripts/test.sh honours it too, warning loudly).
const NoPostgresEnv = "PEERCALL_NO_POSTGRES"

// Require returns PEERCALL_TEST_POSTGRES. Without it the test skips on a
// developer's machine, but fails under CI (CI set, as CI systems do), where
// a skipped PostgreSQL suite would hide a regression, unless
// PEERCALL_NO_POSTGRES=1 opts out.
func Require(t testing.TB) string {
	t.Helper()
	base := os.Getenv("PEERCALL_TEST_POSTGRES")
	if base != "" {
		return base
	}
	switch {
	case os.Getenv(NoPostgresEnv) == "1":
		t.Skip("PostgreSQL tests skipped: " + NoPostgresEnv + "=1")
	case underCI():
		t.Fatal("PostgreSQL tests must run under CI (CI=" + os.Getenv("CI") + ") but PEERCALL_TEST_POSTGRES is not set: run them through `make test` (scripts/test.sh starts a local server), set PEERCALL_TEST_POSTGRES=postgres://..., or opt out with " + NoPostgresEnv + "=1")
	default:
		t.Skip(SkipMessage)
	}
	return ""
}

// underCI reports whether $CI says this is a CI run (any value but "",
// "0" and "false").
func underCI() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "", "0", "false":
		return false
	}
	return true
}

// SchemaDSN creates a schema with a random name in the database of
// PEERCALL_TEST_POSTGRES and returns that URL with search_path set to it, so
// that concurrent test runs never see each other's tables. The schema is
// dropped when the test ends.
func SchemaDSN(t testing.TB) string {
	t.Helper()
	base := Require(t)
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
