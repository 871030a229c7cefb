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

// Require returns PEERCALL_TEST_POSTGRES, or skips the test.
func Require(t testing.TB) string {
	base := os.Getenv("PEERCALL_TEST_POSTGRES")
	if base == "" {
		t.Skip(SkipMessage)
	}
	return base
}

// SchemaDSN creates a schema with a random name in the database of
// PEERCALL_TEST_POSTGRES and returns that URL with search_path set to it, so
// that concurrent test runs never see each other's tables. The schema is
// dropped when the test ends.
func SchemaDSN(t testing.TB) string {
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
