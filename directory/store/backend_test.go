package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/peercall/peercall/internal/pgtest"
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
	{name: "postgres", newDSN: pgtest.SchemaDSN, require: func(t testing.TB) { pgtest.Require(t) }},
}

// sqliteDSN is a database file in the test's temporary directory.
func sqliteDSN(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "directory.db")
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
