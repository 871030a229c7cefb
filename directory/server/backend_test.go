package server

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/peercall/peercall/directory/store"
	"github.com/peercall/peercall/internal/pgtest"
)

// backends are the stores the server is tested on: SQLite always,
// PostgreSQL when PEERCALL_TEST_POSTGRES names a server.
var backends = []string{"sqlite", "postgres"}

// openBackend opens an empty store of the named kind for one test.
func openBackend(t *testing.T, kind string) store.Store {
	t.Helper()
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "directory.db")
	if kind == "postgres" {
		dsn = pgtest.SchemaDSN(t)
	}
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open %s store: %v", kind, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
