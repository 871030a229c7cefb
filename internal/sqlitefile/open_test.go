package sqlitefile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpen: the file is created 0600 in a 0700 directory, in WAL mode with
// synchronous=FULL, and survives a reopen; a path that cannot be a file
// says which.
func TestOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "home", "contacts.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7)`); err != nil {
		t.Fatal(err)
	}
	var mode string
	var sync int
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q (%v), want wal", mode, err)
	}
	if err := db.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		t.Errorf("synchronous %d (%v), want 2 (FULL)", sync, err)
	}
	db.Close()
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", p, fi.Mode().Perm(), err, want)
		}
	}
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var x int
	if err := db.QueryRow(`SELECT x FROM t`).Scan(&x); err != nil || x != 7 {
		t.Errorf("after reopening: %d, %v", x, err)
	}
	db.Close()
	if _, err := Open(filepath.Dir(path)); err == nil || !strings.Contains(err.Error(), filepath.Dir(path)) {
		t.Errorf("a directory opened as the database: %v, want an error naming it", err)
	}
}
