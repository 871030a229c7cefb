package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteParams are the connection settings of every SQLite connection:
// BEGIN IMMEDIATE for transactions (a writer takes the write lock up front,
// so it waits in busy_timeout instead of failing when upgrading a read
// lock), a 10 s busy timeout for other processes holding the lock, foreign
// keys enforced, and synchronous=FULL so that a commit is on disk (WAL
// fsynced) before it returns.
const sqliteParams = "_txlock=immediate&_busy_timeout=10000&_fk=1&_synchronous=FULL"

// OpenSQLite opens the SQLite database file at path, creating it (mode
// 0600, as it holds password hashes) and its schema when missing, checking
// its integrity (PRAGMA quick_check) and migrating an older schema.
func OpenSQLite(ctx context.Context, path string) (Store, error) {
	return openSQLite(ctx, path, Options{})
}

func openSQLite(ctx context.Context, path string, o Options) (Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("store: SQLite path %q: give a file path, as in sqlite:///var/lib/peercall/directory.db", path)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("store: create the directory of SQLite database %s: %w", path, err)
		}
	}
	if err := createFile(path); err != nil {
		return nil, fmt.Errorf("store: create SQLite database %s: %w (%s)", path, err, fileHint(path, err))
	}

	uri := "file:" + escapeSQLitePath(path) + "?" + sqliteParams
	s := &sqliteStore{path: path}
	var err error
	s.writer, err = sql.Open("sqlite", uri)
	if err != nil {
		return nil, fmt.Errorf("store: open SQLite database %s: %w", path, err)
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)
	if err := s.useWAL(ctx); err != nil {
		s.writer.Close()
		return nil, err
	}
	if !o.SkipIntegrityCheck {
		if err := s.quickCheck(ctx, s.writer); err != nil {
			s.writer.Close()
			return nil, err
		}
	}
	if err := s.migrate(ctx); err != nil {
		s.writer.Close()
		return nil, err
	}

	s.reader, err = sql.Open("sqlite", uri+"&_query_only=1&_pragma=mmap_size(268435456)")
	if err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("store: open SQLite database %s for reading: %w", path, err)
	}
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	s.reader.SetMaxOpenConns(readers)
	s.reader.SetMaxIdleConns(readers)
	s.reader.SetConnMaxLifetime(0)
	s.reader.SetConnMaxIdleTime(0)
	s.writes.db, s.reads.db = s.writer, s.reader
	return s, nil
}

// createFile creates the file at path with mode 0600 when it is missing,
// and syncs its directory so that the new name survives a power cut (SQLite
// syncs the directory for the journals it creates, not for the database).
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	return errors.Join(dir.Sync(), dir.Close())
}

// escapeSQLitePath makes a file path safe inside a file: URI.
func escapeSQLitePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// useWAL switches the file to write-ahead logging (persistent; readers
// then never block the writer nor it them). Switching needs the file to
// itself, and SQLite answers SQLITE_BUSY at once rather than waiting when
// another connection opens it at the same moment, so this retries for up
// to 10 s.
func (s *sqliteStore) useWAL(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var mode string
		err := s.writer.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("store: SQLite database %s: cannot use write-ahead logging (journal mode stays %q); put it on a local file system", s.path, mode)
		case sqliteCode(err)&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline):
			return fmt.Errorf("store: open SQLite database %s: set WAL mode: %w", s.path, s.hint(err))
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("store: open SQLite database %s: %w", s.path, ctx.Err())
		}
	}
}

// sqliteApplicationID marks the file as a peercall directory ("pcd1").
const sqliteApplicationID = 0x70636431

// sqliteMigrations are the schema versions; migration i brings the schema
// from version i to i+1 (PRAGMA user_version). Append, never edit.
var sqliteMigrations = []string{
	// 1: users, certificates, serial counter, sightings.
	`
	PRAGMA application_id = 1885561905;
	-- The primary key is the UNIQUE index on the normalised name that makes
	-- concurrent registrations of one name have exactly one winner.
	CREATE TABLE users (
		name          TEXT NOT NULL PRIMARY KEY,
		display       TEXT NOT NULL,
		password_hash TEXT NOT NULL,
		created       INTEGER NOT NULL -- microseconds since the Unix epoch, UTC
	) WITHOUT ROWID;

	CREATE TABLE counters (
		name  TEXT NOT NULL PRIMARY KEY,
		value INTEGER NOT NULL
	) WITHOUT ROWID;
	INSERT INTO counters (name, value) VALUES ('certificate_serial', 0);

	CREATE TABLE certificates (
		serial   INTEGER NOT NULL PRIMARY KEY,
		username TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE ON UPDATE CASCADE,
		peer_key BLOB NOT NULL,
		issued   INTEGER NOT NULL,
		expires  INTEGER NOT NULL,
		raw      BLOB NOT NULL
	);
	CREATE INDEX certificates_username_issued ON certificates (username, issued);

	CREATE TABLE sightings (
		username   TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE ON UPDATE CASCADE,
		peer_id    TEXT NOT NULL,
		addrs      TEXT NOT NULL, -- JSON array of multiaddr strings
		super_node INTEGER NOT NULL,
		seen       INTEGER NOT NULL,
		PRIMARY KEY (username, peer_id)
	) WITHOUT ROWID;
	CREATE INDEX sightings_seen ON sightings (seen);
	CREATE INDEX sightings_super_seen ON sightings (super_node, seen);
	`,
	// 2: look-alike skeletons (UNIQUE, filled in by syncSkeletons), the
	// certified keys of a user, and the sources and verified addresses of
	// sightings. Super-node claims from before were never verified.
	`
	ALTER TABLE users ADD COLUMN skeleton TEXT;
	CREATE UNIQUE INDEX users_skeleton ON users (skeleton);
	CREATE TABLE meta (
		key   TEXT NOT NULL PRIMARY KEY,
		value TEXT NOT NULL
	) WITHOUT ROWID;
	CREATE INDEX certificates_username_key ON certificates (username, peer_key);
	ALTER TABLE sightings ADD COLUMN source TEXT NOT NULL DEFAULT '';
	ALTER TABLE sightings ADD COLUMN verified_addrs TEXT NOT NULL DEFAULT '[]'; -- JSON array
	UPDATE sightings SET super_node = 0;
	`,
	// 3: disabled accounts, revoked certificates, and sightings that
	// expire (check-ins): those recorded at login expire at once.
	`
	ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE certificates ADD COLUMN revoked INTEGER; -- NULL: not revoked
	CREATE INDEX certificates_revoked ON certificates (serial) WHERE revoked IS NOT NULL;
	ALTER TABLE sightings ADD COLUMN expires INTEGER NOT NULL DEFAULT 0;
	UPDATE sightings SET expires = seen;
	DROP INDEX sightings_seen;
	DROP INDEX sightings_super_seen;
	CREATE INDEX sightings_expires ON sightings (expires);
	CREATE INDEX sightings_super_expires ON sightings (super_node, expires);
	`,
}

// SchemaVersion is the schema version this code writes, for both stores.
var SchemaVersion = len(sqliteMigrations)

// migrate brings the schema to SchemaVersion inside one write transaction,
// so that processes opening one file at once migrate it exactly once.
func (s *sqliteStore) migrate(ctx context.Context) (err error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: open SQLite database %s: %w", s.path, s.hint(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var version, appID int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("store: read schema version of %s: %w", s.path, s.hint(err))
	}
	if err := tx.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&appID); err != nil {
		return fmt.Errorf("store: read application id of %s: %w", s.path, s.hint(err))
	}
	if appID != 0 && appID != sqliteApplicationID {
		return fmt.Errorf("store: %s is an SQLite database of another application (application_id %#x); give the directory a file of its own", s.path, appID)
	}
	if version > len(sqliteMigrations) {
		return fmt.Errorf("store: %s has schema version %d, newer than this program knows (%d); run a newer peercall-directory", s.path, version, len(sqliteMigrations))
	}
	for v := version; v < len(sqliteMigrations); v++ {
		if _, err := tx.ExecContext(ctx, sqliteMigrations[v]); err != nil {
			return fmt.Errorf("store: migrate %s to schema version %d: %w", s.path, v+1, s.hint(err))
		}
	}
	if version < len(sqliteMigrations) {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(sqliteMigrations))); err != nil {
			return fmt.Errorf("store: record schema version of %s: %w", s.path, s.hint(err))
		}
	}
	dups, err := syncSkeletons(ctx, sqliteSkeletonTx{tx})
	if err != nil {
		return fmt.Errorf("store: compute the look-alike skeletons of %s: %w", s.path, s.hint(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit schema migration of %s: %w", s.path, s.hint(err))
	}
	if version < len(sqliteMigrations) {
		slog.Info("store: migrated SQLite schema", "path", s.path, "from", version, "to", len(sqliteMigrations))
	}
	logLookAlikes(dups, s.path)
	return nil
}

// quickCheck runs PRAGMA quick_check: a damaged page is reported at start,
// not as failed requests later.
func (s *sqliteStore) quickCheck(ctx context.Context, db *sql.DB) error {
	start := time.Now()
	rows, err := db.QueryContext(ctx, `PRAGMA quick_check(8)`)
	if err != nil {
		return s.damaged(s.hint(err))
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return s.damaged(s.hint(err))
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return s.damaged(s.hint(err))
	}
	if len(problems) > 0 {
		return s.damaged(errors.New(strings.ReplaceAll(strings.Join(problems, "; "), "\n", "; ")))
	}
	slog.Debug("store: SQLite integrity check passed", "path", s.path, "took", time.Since(start))
	return nil
}

// damaged is the error of a failed integrity check.
func (s *sqliteStore) damaged(err error) error {
	s.noteFault(err)
	return fmt.Errorf("store: SQLite database %s is damaged (integrity check: %w); stop the directory, move the file aside and restore the latest backup in its place (see docs/operator.md, Backups); to start on it anyway, skip the check with integrity_check = false", s.path, err)
}

// CheckIntegrity runs PRAGMA quick_check on a reader connection.
func (s *sqliteStore) CheckIntegrity(ctx context.Context) error {
	return s.quickCheck(ctx, s.reader)
}

// sqliteCode returns the (extended) SQLite result code of err, or 0.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// sqliteHint adds what to do to the SQLite errors an operator can act on;
// path is the database file.
func sqliteHint(err error, path string) error {
	switch sqliteCode(err) & 0xff {
	case sqlite3.SQLITE_BUSY:
		return fmt.Errorf("%w (another connection or process holds the database's lock; is a second directory server using the same file?)", err)
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM:
		return fmt.Errorf("%w (check the permissions of %s, its -wal and -shm files and their directory, and the space left: %s)", err, path, diskSpace(path))
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
		if free, ferr := freeBytes(filepath.Dir(path)); ferr == nil && free < lowDiskBytes {
			return fmt.Errorf("%w (the disk holding %s is full: %s; free space there, or move the database elsewhere, then start again)", err, path, diskSpace(path))
		}
		return fmt.Errorf("%w (reading or writing %s failed; %s: if that is little, free space there or move the database, then start again; otherwise check the disk and the system log)", err, path, diskSpace(path))
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("%w (%s is not a healthy SQLite database; restore it from a backup, see docs/operator.md)", err, path)
	}
	return err
}

// lowDiskBytes is the free space below which an I/O error is put down to a
// full disk.
const lowDiskBytes = 1 << 20

// fileHint says what to check when creating the database file failed.
func fileHint(path string, err error) string {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return "the disk is full: " + diskSpace(path) + "; free space there or choose another path"
	}
	return "check the path and its permissions"
}

// diskSpace says how much space is left on the file system of path.
func diskSpace(path string) string {
	free, err := freeBytes(filepath.Dir(path))
	if err != nil {
		return fmt.Sprintf("the free space of %s is unknown (%v)", filepath.Dir(path), err)
	}
	return fmt.Sprintf("%s has %s free", filepath.Dir(path), humanBytes(free))
}

// humanBytes writes n bytes in the largest binary unit that keeps it >= 1.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
