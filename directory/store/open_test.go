package store

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/peercall/peercall/internal/pgtest"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if dsn := os.Getenv(writerHelperEnv); dsn != "" {
		runWriterHelper(dsn) // the child process of TestKilledWriterKeepsAcknowledged
		return
	}
	// Schema migrations are logged; tests and benchmarks make hundreds.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	// The stores start goroutines only inside database/sql and pgxpool;
	// Close must stop them all.
	goleak.VerifyTestMain(m)
}

func TestOpenRejectsUnknownSchemes(t *testing.T) {
	tests := []struct {
		dsn        string
		wantScheme string
	}{
		{"mysql://root:secret@localhost/db", `"mysql"`},
		{"/var/lib/peercall/directory.db", `""`},
		{"directory.db", `""`},
		{"", `""`},
		{"file:directory.db", `"file"`},
	}
	for _, tt := range tests {
		s, err := Open(context.Background(), tt.dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", tt.dsn)
			continue
		}
		msg := err.Error()
		for _, want := range []string{tt.wantScheme, "sqlite://PATH", "sqlite:PATH", "postgres://", "postgresql://"} {
			if !strings.Contains(msg, want) {
				t.Errorf("Open(%q) error %q does not mention %s", tt.dsn, msg, want)
			}
		}
		if strings.Contains(msg, "secret") {
			t.Errorf("Open(%q) error %q repeats the password", tt.dsn, msg)
		}
	}
}

func TestOpenSQLiteForms(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		dsn, file string
	}{
		{"sqlite://" + filepath.Join(dir, "a.db"), filepath.Join(dir, "a.db")},
		{"sqlite:" + filepath.Join(dir, "b.db"), filepath.Join(dir, "b.db")},
		{"SQLite://" + filepath.Join(dir, "c.db"), filepath.Join(dir, "c.db")},
		{"sqlite://" + filepath.Join(dir, "new", "sub", "d.db"), filepath.Join(dir, "new", "sub", "d.db")},
		{"sqlite://" + filepath.Join(dir, "odd?name#%.db"), filepath.Join(dir, "odd?name#%.db")},
	}
	for _, tt := range tests {
		s, err := Open(context.Background(), tt.dsn)
		if err != nil {
			t.Errorf("Open(%q): %v", tt.dsn, err)
			continue
		}
		if err := s.CreateUser(context.Background(), user("x")); err != nil {
			t.Errorf("CreateUser in %q: %v", tt.dsn, err)
		}
		s.Close()
		fi, err := os.Stat(tt.file)
		if err != nil {
			t.Errorf("Open(%q) did not create %s: %v", tt.dsn, tt.file, err)
			continue
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %v, want 0600 (it holds password hashes)", tt.file, mode)
		}
	}
	for _, dsn := range []string{"sqlite:", "sqlite://", "sqlite::memory:", "sqlite:file:x.db"} {
		if s, err := Open(context.Background(), dsn); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error asking for a file path", dsn)
		}
	}
}

// TestSQLiteSettings checks the settings durability and concurrency rest
// on, on the writer and on every reader connection.
func TestSQLiteSettings(t *testing.T) {
	s := openStore(t, sqliteDSN(t)).(*sqliteStore)
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
		{"user_version", strconv.Itoa(SchemaVersion)},
		{"application_id", "1885561905"},
	}
	for _, db := range []struct {
		name string
		db   *sql.DB
	}{{"writer", s.writer}, {"reader", s.reader}} {
		for _, tt := range tests {
			var got string
			if err := db.db.QueryRow("PRAGMA " + tt.pragma).Scan(&got); err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", db.name, tt.pragma, err)
			}
			if got != tt.want {
				t.Errorf("%s: PRAGMA %s = %s, want %s", db.name, tt.pragma, got, tt.want)
			}
		}
	}
	if _, err := s.reader.Exec(`DELETE FROM users`); err == nil {
		t.Error("the read-only pool accepted a write")
	}
}

func TestSQLiteRefusesForeignFiles(t *testing.T) {
	tests := []struct {
		name, setup, wantErr string
	}{
		{"newer schema", "PRAGMA user_version = 99", "newer than this program knows"},
		{"another application", "PRAGMA application_id = 42", "another application"},
		{"not ours", "CREATE TABLE users (id INTEGER)", "migrate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "other.db")
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(tt.setup); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s, err := Open(context.Background(), "sqlite:"+path)
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded on a database with %s, want an error", tt.name)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open error %q does not say %q", err, tt.wantErr)
			}
		})
	}
}

func TestPostgresRefusesNewerSchema(t *testing.T) {
	dsn := pgtest.SchemaDSN(t)
	s := openStore(t, dsn).(*postgresStore)
	if _, err := s.pool.Exec(context.Background(), `UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(context.Background(), dsn)
	if err == nil {
		s2.Close()
		t.Fatal("Open succeeded on a schema of version 99, want an error")
	}
	if !strings.Contains(err.Error(), "newer than this program knows") {
		t.Errorf("Open error %q does not say the schema is newer", err)
	}
}

func TestPostgresConnectErrorHidesPassword(t *testing.T) {
	// Port 1 on loopback: nothing listens there, so the connection is refused at once.
	_, err := Open(context.Background(), "postgres://peercall:hunter2@127.0.0.1:1/db?sslmode=disable&connect_timeout=5")
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q repeats the password", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1/db") {
		t.Errorf("error %q does not say which server it tried", err)
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		prefix, want string
		ok           bool
	}{
		{"", "", false},
		{"a", "b", true},
		{"gin", "gio", true},
		{"az", "a{", true},
		{"a\u007f", "a\u0080", true},
		{"é", "ê", true},
		{"a\ud7ff", "a\ue000", true}, // skips the surrogates
		{"a\U0010ffff", "b", true},
		{"\U0010ffff\U0010ffff", "", false},
	}
	for _, tt := range tests {
		got, ok := prefixEnd(tt.prefix)
		if got != tt.want || ok != tt.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", tt.prefix, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzPrefixEnd checks the property SearchUsers rests on: for valid UTF-8,
// a name starts with prefix exactly when prefix <= name < prefixEnd(prefix).
func FuzzPrefixEnd(f *testing.F) {
	for _, seed := range [][2]string{
		{"gin", "ginny"}, {"gin", "gio"}, {"gin", "gim\U0010ffff"}, {"", "x"},
		{"a\U0010ffff", "a\U0010ffffz"}, {"a\U0010ffff", "b"}, {"\ud7ff", "\ue000"},
		{"é", "éa"}, {"é", "ê"}, {"zoe", "zoë"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, prefix, name string) {
		if !utf8.ValidString(prefix) || !utf8.ValidString(name) {
			// The property holds for valid UTF-8 only; SearchUsers
			// answers invalid prefixes with no users before it gets here
			// (tested in the store suite).
			return
		}
		end, ok := prefixEnd(prefix)
		inRange := name >= prefix && (!ok || name < end)
		if inRange != strings.HasPrefix(name, prefix) {
			t.Errorf("prefixEnd(%q) = %q, %v: %q in range = %v, has prefix = %v", prefix, end, ok, name, inRange, !inRange)
		}
		if ok && !utf8.ValidString(end) {
			t.Errorf("prefixEnd(%q) = %q, not valid UTF-8", prefix, end)
		}
		if ok && strings.HasPrefix(end, prefix) {
			t.Errorf("prefixEnd(%q) = %q starts with the prefix", prefix, end)
		}
	})
}

func TestOpenPostgresForms(t *testing.T) {
	dsn := pgtest.SchemaDSN(t)
	alias := "postgresql" + strings.TrimPrefix(dsn, "postgres")
	s := openStore(t, alias)
	if err := s.CreateUser(context.Background(), user("x")); err != nil {
		t.Fatalf("CreateUser through %s: %v", "postgresql://", err)
	}

	missing := strings.Replace(dsn, "search_path=peercall_test_", "search_path=no_such_schema_", 1)
	if missing == dsn {
		t.Fatalf("test DSN has no search_path to change")
	}
	if s, err := Open(context.Background(), missing); err == nil {
		s.Close()
		t.Error("Open with a search_path naming no schema succeeded, want an error")
	} else if !strings.Contains(err.Error(), "search_path") {
		t.Errorf("Open error %q does not point at search_path", err)
	}
}

func TestMigrationsMatch(t *testing.T) {
	if len(sqliteMigrations) != len(postgresMigrations) || SchemaVersion != len(sqliteMigrations) {
		t.Errorf("SQLite has %d migrations and PostgreSQL %d (SchemaVersion %d): add each schema change to both", len(sqliteMigrations), len(postgresMigrations), SchemaVersion)
	}
}
