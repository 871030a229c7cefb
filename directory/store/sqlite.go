package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
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

// sqliteStore is the SQLite Store. Writes go through writer, a pool of
// exactly one connection, so writers in this process queue in database/sql
// and never meet SQLITE_BUSY; reads go through reader, a pool of read-only
// connections that WAL lets run beside the writer.
type sqliteStore struct {
	path   string
	writer *sql.DB
	reader *sql.DB
	writes stmtCache // statements on writer
	reads  stmtCache // statements on reader
}

// stmtCache holds each statement of a pool prepared once (database/sql
// prepares it again on each connection that runs it); the queries are a
// fixed set of constants, so it stays small.
type stmtCache struct {
	db *sql.DB
	m  sync.Map // query -> *sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := c.m.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := c.m.LoadOrStore(query, st); loaded {
		st.Close() // another goroutine prepared it first
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

func (c *stmtCache) close() error {
	var errs []error
	c.m.Range(func(_, st any) bool {
		errs = append(errs, st.(*sql.Stmt).Close())
		return true
	})
	return errors.Join(errs...)
}

// exec runs a write.
func (s *sqliteStore) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := s.writes.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// query runs a read.
func (s *sqliteStore) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.reads.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// queryRow runs a read that returns at most one row.
func (s *sqliteStore) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.reads.get(ctx, query)
	if err != nil {
		// A Row can carry only a query's error; a closed statement's
		// QueryRow reports it, so do the query unprepared instead.
		return s.reader.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// OpenSQLite opens the SQLite database file at path, creating it (mode
// 0600, as it holds password hashes) and its schema when missing, and
// migrating an older schema.
func OpenSQLite(ctx context.Context, path string) (Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("store: SQLite path %q: give a file path, as in sqlite:///var/lib/peercall/directory.db", path)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("store: create the directory of SQLite database %s: %w", path, err)
		}
	}
	if err := createFile(path); err != nil {
		return nil, fmt.Errorf("store: create SQLite database %s: %w (check the path and its permissions)", path, err)
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
			return fmt.Errorf("store: open SQLite database %s: set WAL mode: %w", s.path, sqliteHint(err))
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
}

// SchemaVersion is the schema version this code writes, for both stores.
var SchemaVersion = len(sqliteMigrations)

// migrate brings the schema to SchemaVersion inside one write transaction,
// so that processes opening one file at once migrate it exactly once.
func (s *sqliteStore) migrate(ctx context.Context) (err error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: open SQLite database %s: %w", s.path, sqliteHint(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var version, appID int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("store: read schema version of %s: %w", s.path, sqliteHint(err))
	}
	if err := tx.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&appID); err != nil {
		return fmt.Errorf("store: read application id of %s: %w", s.path, sqliteHint(err))
	}
	if appID != 0 && appID != sqliteApplicationID {
		return fmt.Errorf("store: %s is an SQLite database of another application (application_id %#x); give the directory a file of its own", s.path, appID)
	}
	if version > len(sqliteMigrations) {
		return fmt.Errorf("store: %s has schema version %d, newer than this program knows (%d); run a newer peercall-directory", s.path, version, len(sqliteMigrations))
	}
	if version == len(sqliteMigrations) {
		return tx.Commit()
	}
	for v := version; v < len(sqliteMigrations); v++ {
		if _, err := tx.ExecContext(ctx, sqliteMigrations[v]); err != nil {
			return fmt.Errorf("store: migrate %s to schema version %d: %w", s.path, v+1, sqliteHint(err))
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(sqliteMigrations))); err != nil {
		return fmt.Errorf("store: record schema version of %s: %w", s.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit schema migration of %s: %w", s.path, sqliteHint(err))
	}
	slog.Info("store: migrated SQLite schema", "path", s.path, "from", version, "to", len(sqliteMigrations))
	return nil
}

// sqliteCode returns the (extended) SQLite result code of err, or 0.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// sqliteHint adds what to do to the SQLite errors an operator can act on.
func sqliteHint(err error) error {
	switch sqliteCode(err) & 0xff {
	case sqlite3.SQLITE_BUSY:
		return fmt.Errorf("%w (another connection or process holds the database's lock; is a second directory server using the same file?)", err)
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM:
		return fmt.Errorf("%w (check the permissions of the database file, its -wal and -shm files and their directory)", err)
	case sqlite3.SQLITE_FULL:
		return fmt.Errorf("%w (the disk is full)", err)
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("%w (the file is not a healthy SQLite database; restore it from a backup)", err)
	}
	return err
}

func (s *sqliteStore) CreateUser(ctx context.Context, u User) error {
	if err := checkUser(u); err != nil {
		return err
	}
	if u.Created.IsZero() {
		u.Created = now()
	}
	_, err := s.exec(ctx,
		`INSERT INTO users (name, display, password_hash, created) VALUES (?, ?, ?, ?)`,
		u.Name, u.Display, u.PasswordHash, u.Created.UnixMicro())
	switch sqliteCode(err) {
	case 0:
		if err != nil {
			return fmt.Errorf("store: create user %q: %w", u.Name, err)
		}
		return nil
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return fmt.Errorf("store: create user %q: %w", u.Name, ErrNameTaken)
	}
	return fmt.Errorf("store: create user %q: %w", u.Name, sqliteHint(err))
}

func (s *sqliteStore) User(ctx context.Context, name string) (User, error) {
	if !validText(name) {
		return User{}, fmt.Errorf("store: user %q: %w", name, ErrNotFound)
	}
	var u User
	var created int64
	err := s.queryRow(ctx, `SELECT name, display, password_hash, created FROM users WHERE name = ?`, name).Scan(&u.Name, &u.Display, &u.PasswordHash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("store: user %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("store: look up user %q: %w", name, sqliteHint(err))
	}
	u.Created = fromMicros(created)
	return u, nil
}

func (s *sqliteStore) SetPasswordHash(ctx context.Context, name, hash string) error {
	if hash == "" {
		return fmt.Errorf("store: set password of %q: empty hash (hash the password before storing it)", name)
	}
	if !validText(hash) {
		return fmt.Errorf("store: set password of %q: the hash is not valid UTF-8 text", name)
	}
	if !validText(name) {
		return fmt.Errorf("store: set password of %q: %w", name, ErrNotFound)
	}
	res, err := s.exec(ctx, `UPDATE users SET password_hash = ? WHERE name = ?`, hash, name)
	if err != nil {
		return fmt.Errorf("store: set password of %q: %w", name, sqliteHint(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: set password of %q: %w", name, err)
	} else if n == 0 {
		return fmt.Errorf("store: set password of %q: %w", name, ErrNotFound)
	}
	return nil
}

func (s *sqliteStore) Taken(ctx context.Context, names []string) (map[string]bool, error) {
	taken := make(map[string]bool, len(names))
	if len(names) == 0 {
		return taken, nil
	}
	var valid []string
	for _, n := range names {
		taken[n] = false
		if validText(n) {
			valid = append(valid, n)
		}
	}
	if len(valid) == 0 {
		return taken, nil
	}
	list, err := json.Marshal(valid)
	if err != nil {
		return nil, fmt.Errorf("store: check names: %w", err)
	}
	rows, err := s.query(ctx,
		`SELECT name FROM users WHERE name IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return nil, fmt.Errorf("store: check names: %w", sqliteHint(err))
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("store: check names: %w", err)
		}
		taken[n] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: check names: %w", sqliteHint(err))
	}
	return taken, nil
}

func (s *sqliteStore) SearchUsers(ctx context.Context, prefix, after string, limit int) ([]User, error) {
	limit = clampLimit(limit)
	after, ok := searchArgs(prefix, after)
	if limit == 0 || !ok {
		return nil, nil
	}
	query := `SELECT name, display, password_hash, created FROM users WHERE name >= ? AND name > ?`
	args := []any{prefix, after}
	if end, ok := prefixEnd(prefix); ok {
		query += ` AND name < ?`
		args = append(args, end)
	}
	query += ` ORDER BY name LIMIT ?`
	args = append(args, limit)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: search users %q: %w", prefix, sqliteHint(err))
	}
	defer rows.Close()
	var users []User
	for rows.Next() {
		var u User
		var created int64
		if err := rows.Scan(&u.Name, &u.Display, &u.PasswordHash, &created); err != nil {
			return nil, fmt.Errorf("store: search users %q: %w", prefix, err)
		}
		u.Created = fromMicros(created)
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: search users %q: %w", prefix, sqliteHint(err))
	}
	return users, nil
}

func (s *sqliteStore) NextSerial(ctx context.Context) (uint64, error) {
	var serial int64
	err := s.writer.QueryRowContext(ctx,
		`UPDATE counters SET value = value + 1 WHERE name = 'certificate_serial' RETURNING value`).Scan(&serial)
	if err != nil {
		return 0, fmt.Errorf("store: next certificate serial: %w", sqliteHint(err))
	}
	return uint64(serial), nil
}

func (s *sqliteStore) AddCertificate(ctx context.Context, c Certificate) error {
	if c.Serial == 0 || c.Serial > math.MaxInt64 {
		return fmt.Errorf("store: add certificate: serial %d out of range (take serials from NextSerial)", c.Serial)
	}
	if !validText(c.Username) {
		return fmt.Errorf("store: add certificate %d for %q: %w", c.Serial, c.Username, ErrNotFound)
	}
	_, err := s.exec(ctx,
		`INSERT INTO certificates (serial, username, peer_key, issued, expires, raw) VALUES (?, ?, ?, ?, ?, ?)`,
		int64(c.Serial), c.Username, nonNil(c.PeerKey), c.Issued.UnixMicro(), c.Expires.UnixMicro(), nonNil(c.Raw))
	switch code := sqliteCode(err); {
	case err == nil:
		return nil
	case code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("store: add certificate: serial %d is recorded already (take serials from NextSerial)", c.Serial)
	case code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("store: add certificate %d for %q: %w", c.Serial, c.Username, ErrNotFound)
	}
	return fmt.Errorf("store: add certificate %d: %w", c.Serial, sqliteHint(err))
}

func (s *sqliteStore) Certificates(ctx context.Context, username string, now time.Time, limit int) ([]Certificate, error) {
	limit = clampLimit(limit)
	if limit == 0 || !validText(username) {
		return nil, nil
	}
	rows, err := s.query(ctx,
		`SELECT serial, username, peer_key, issued, expires, raw FROM certificates
		WHERE username = ? AND expires > ? ORDER BY issued DESC, serial DESC LIMIT ?`,
		username, now.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: certificates of %q: %w", username, sqliteHint(err))
	}
	defer rows.Close()
	var certs []Certificate
	for rows.Next() {
		var c Certificate
		var serial, issued, expires int64
		if err := rows.Scan(&serial, &c.Username, &c.PeerKey, &issued, &expires, &c.Raw); err != nil {
			return nil, fmt.Errorf("store: certificates of %q: %w", username, err)
		}
		c.Serial, c.Issued, c.Expires = uint64(serial), fromMicros(issued), fromMicros(expires)
		certs = append(certs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: certificates of %q: %w", username, sqliteHint(err))
	}
	return certs, nil
}

func (s *sqliteStore) Seen(ctx context.Context, sg Sighting) error {
	if err := checkSighting(sg); err != nil {
		return err
	}
	if !validText(sg.Username) {
		return fmt.Errorf("store: record sighting of %q: %w", sg.Username, ErrNotFound)
	}
	addrs, err := json.Marshal(nonNilStrings(sg.Addrs))
	if err != nil {
		return fmt.Errorf("store: record sighting of %q: %w", sg.Username, err)
	}
	if sg.Seen.IsZero() {
		sg.Seen = now()
	}
	// The newest sighting of a (user, peer) wins; an older one arriving late
	// changes nothing.
	_, err = s.exec(ctx,
		`INSERT INTO sightings (username, peer_id, addrs, super_node, seen) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (username, peer_id) DO UPDATE SET
			addrs = excluded.addrs, super_node = excluded.super_node, seen = excluded.seen
		WHERE excluded.seen >= sightings.seen`,
		sg.Username, sg.PeerID, string(addrs), sg.SuperNode, sg.Seen.UnixMicro())
	switch {
	case err == nil:
		return nil
	case sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("store: record sighting of %q: %w", sg.Username, ErrNotFound)
	}
	return fmt.Errorf("store: record sighting of %q: %w", sg.Username, sqliteHint(err))
}

func (s *sqliteStore) Sightings(ctx context.Context, username string, since time.Time, limit int) ([]Sighting, error) {
	if !validText(username) {
		return nil, nil
	}
	return s.sightings(ctx, fmt.Sprintf("sightings of %q", username),
		`SELECT username, peer_id, addrs, super_node, seen FROM sightings
		WHERE username = ? AND seen >= ? ORDER BY seen DESC, peer_id LIMIT ?`,
		username, since.UnixMicro(), clampLimit(limit))
}

func (s *sqliteStore) RecentNodes(ctx context.Context, since time.Time, superOnly bool, limit int) ([]Sighting, error) {
	query := `SELECT username, peer_id, addrs, super_node, seen FROM sightings
		WHERE seen >= ? ORDER BY seen DESC, peer_id LIMIT ?`
	if superOnly {
		query = `SELECT username, peer_id, addrs, super_node, seen FROM sightings
		WHERE super_node = 1 AND seen >= ? ORDER BY seen DESC, peer_id LIMIT ?`
	}
	return s.sightings(ctx, "recent nodes", query, since.UnixMicro(), clampLimit(limit))
}

func (s *sqliteStore) sightings(ctx context.Context, what, query string, args ...any) ([]Sighting, error) {
	if args[len(args)-1] == 0 {
		return nil, nil
	}
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, sqliteHint(err))
	}
	defer rows.Close()
	var out []Sighting
	for rows.Next() {
		var sg Sighting
		var addrs string
		var seen int64
		if err := rows.Scan(&sg.Username, &sg.PeerID, &addrs, &sg.SuperNode, &seen); err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		if err := json.Unmarshal([]byte(addrs), &sg.Addrs); err != nil {
			return nil, fmt.Errorf("store: %s: stored addresses of %s are not a JSON list: %w", what, sg.PeerID, err)
		}
		if len(sg.Addrs) == 0 {
			sg.Addrs = nil
		}
		sg.Seen = fromMicros(seen)
		out = append(out, sg)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, sqliteHint(err))
	}
	return out, nil
}

// PruneSightings deletes the sightings seen before the given time.
func (s *sqliteStore) PruneSightings(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM sightings WHERE seen < ?`, before.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("store: prune sightings: %w", sqliteHint(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: prune sightings: %w", err)
	}
	return n, nil
}

// Close closes both pools; it waits for nothing else, as the store starts
// no goroutines.
func (s *sqliteStore) Close() error {
	return errors.Join(s.reads.close(), s.writes.close(), s.reader.Close(), s.writer.Close())
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
