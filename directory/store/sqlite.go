package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/peercall/peercall/directory/lookalike"
)

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
	faults faultLog  // the last corruption, full disk or I/O error seen
}

// hint adds what to do to err and remembers a fault for Health.
func (s *sqliteStore) hint(err error) error {
	if err == nil {
		return nil
	}
	switch sqliteCode(err) & 0xff {
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
		err = sqliteHint(err, s.path)
		s.noteFault(err)
		return err
	}
	return sqliteHint(err, s.path)
}

func (s *sqliteStore) noteFault(err error) { s.faults.note(err) }

// Health reads one row, measures the free space beside the file and
// reports a fault seen lately.
func (s *sqliteStore) Health(ctx context.Context) Health {
	h := Health{Backend: "sqlite", Path: s.path, FreeBytes: -1}
	if free, err := freeBytes(filepath.Dir(s.path)); err == nil {
		h.FreeBytes = free
	}
	var v int64
	if err := s.reader.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'certificate_serial'`).Scan(&v); err != nil {
		h.Problem = fmt.Sprintf("reading the database failed: %v", s.hint(err))
		return h
	}
	if f := s.faults.recent(); f != "" {
		h.Problem = "a recent request failed: " + f
	}
	return h
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

func (s *sqliteStore) CreateUser(ctx context.Context, u User) error {
	if err := checkUser(u); err != nil {
		return err
	}
	if u.Created.IsZero() {
		u.Created = now()
	}
	_, err := s.exec(ctx,
		`INSERT INTO users (name, display, password_hash, created, skeleton) VALUES (?, ?, ?, ?, ?)`,
		u.Name, u.Display, u.PasswordHash, u.Created.UnixMicro(), lookalike.Skeleton(u.Name))
	switch sqliteCode(err) {
	case 0:
		if err != nil {
			return fmt.Errorf("store: create user %q: %w", u.Name, err)
		}
		return nil
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return fmt.Errorf("store: create user %q: %w", u.Name, ErrNameTaken)
	}
	return fmt.Errorf("store: create user %q: %w", u.Name, s.hint(err))
}

func (s *sqliteStore) User(ctx context.Context, name string) (User, error) {
	return s.readUser(ctx, s.query, name)
}

// queryFunc runs a read: on the reader pool, or in a read transaction.
type queryFunc func(ctx context.Context, query string, args ...any) (*sql.Rows, error)

func (s *sqliteStore) readUser(ctx context.Context, query queryFunc, name string) (User, error) {
	if !validText(name) {
		return User{}, fmt.Errorf("store: user %q: %w", name, ErrNotFound)
	}
	rows, err := query(ctx, `SELECT name, display, password_hash, created, disabled FROM users WHERE name = ?`, name)
	if err != nil {
		return User{}, fmt.Errorf("store: look up user %q: %w", name, s.hint(err))
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return User{}, fmt.Errorf("store: look up user %q: %w", name, s.hint(err))
		}
		return User{}, fmt.Errorf("store: user %q: %w", name, ErrNotFound)
	}
	var u User
	var created int64
	if err := rows.Scan(&u.Name, &u.Display, &u.PasswordHash, &created, &u.Disabled); err != nil {
		return User{}, fmt.Errorf("store: look up user %q: %w", name, err)
	}
	u.Created = fromMicros(created)
	return u, nil
}

// sqlitePageQuery is UserPage's one statement: the user's row (kind 0),
// its live certificates (kind 1) and its live sightings (kind 2) as one
// compound SELECT, so a page is one read transaction. Each read
// transaction of a WAL database takes and releases the shared-memory
// locks with fcntl system calls; three statements took three of them, and
// those calls were a third of a lookup's CPU. Columns by kind:
//
//	kind  c1        c2             c3       c4       c5      c6              c7
//	0     display   password_hash  created  disabled
//	1     serial    peer_key       issued   expires  raw
//	2     peer_id   addrs          seen     expires  source  verified_addrs  super_node
const sqlitePageQuery = `SELECT 0, display, password_hash, created, disabled, NULL, NULL, NULL FROM users WHERE name = ?1
	UNION ALL SELECT * FROM (SELECT 1, serial, peer_key, issued, expires, raw, NULL, NULL FROM certificates
		WHERE username = ?1 AND expires > ?2 AND revoked IS NULL ORDER BY issued DESC, serial DESC LIMIT ?3)
	UNION ALL SELECT * FROM (SELECT 2, peer_id, addrs, seen, expires, source, verified_addrs, super_node FROM sightings
		WHERE username = ?1 AND expires >= ?4 ORDER BY seen DESC, peer_id LIMIT ?5)`

// UserPage reads the user, its certificates and its sightings in one
// statement (sqlitePageQuery).
func (s *sqliteStore) UserPage(ctx context.Context, name string, pq PageQuery) (UserPage, error) {
	if !validText(name) {
		return UserPage{}, fmt.Errorf("store: user %q: %w", name, ErrNotFound)
	}
	rows, err := s.query(ctx, sqlitePageQuery, name, pq.Now.UnixMicro(), clampLimit(pq.CertLimit), pq.Since.UnixMicro(), clampLimit(pq.SightingLimit))
	if err != nil {
		return UserPage{}, fmt.Errorf("store: read user %q: %w", name, s.hint(err))
	}
	defer rows.Close()
	var (
		page  UserPage
		found bool
		kind  int
		c1    any
		c2    any
		c3    int64
		c4    int64
		c5    any
		c6    any
		c7    sql.NullInt64
	)
	for rows.Next() {
		if err := rows.Scan(&kind, &c1, &c2, &c3, &c4, &c5, &c6, &c7); err != nil {
			return UserPage{}, fmt.Errorf("store: read user %q: %w", name, err)
		}
		switch kind {
		case 0:
			found = true
			page.User = User{Name: name, Display: asString(c1), PasswordHash: asString(c2), Created: fromMicros(c3), Disabled: c4 != 0}
		case 1:
			serial, _ := c1.(int64)
			page.Certificates = append(page.Certificates, Certificate{Serial: uint64(serial), Username: name,
				PeerKey: asBytes(c2), Issued: fromMicros(c3), Expires: fromMicros(c4), Raw: asBytes(c5)})
		case 2:
			sg := Sighting{Username: name, PeerID: asString(c1), Seen: fromMicros(c3), Expires: fromMicros(c4),
				Source: asString(c5), SuperNode: c7.Int64 != 0}
			if err := json.Unmarshal([]byte(asString(c2)), &sg.Addrs); err != nil {
				return UserPage{}, fmt.Errorf("store: sightings of %q: stored addresses of %s are not a JSON list: %w", name, sg.PeerID, err)
			}
			if err := json.Unmarshal([]byte(asString(c6)), &sg.VerifiedAddrs); err != nil {
				return UserPage{}, fmt.Errorf("store: sightings of %q: stored verified addresses of %s are not a JSON list: %w", name, sg.PeerID, err)
			}
			if len(sg.Addrs) == 0 {
				sg.Addrs = nil
			}
			if len(sg.VerifiedAddrs) == 0 {
				sg.VerifiedAddrs = nil
			}
			page.Sightings = append(page.Sightings, sg)
		}
	}
	if err := rows.Err(); err != nil {
		return UserPage{}, fmt.Errorf("store: read user %q: %w", name, s.hint(err))
	}
	if !found {
		return UserPage{}, fmt.Errorf("store: user %q: %w", name, ErrNotFound)
	}
	sortPage(&page)
	return page, nil
}

// asString and asBytes read a column scanned into an any (the driver
// gives text as string and blobs as []byte).
func asString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

func asBytes(v any) []byte {
	switch v := v.(type) {
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	return nil
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
		return fmt.Errorf("store: set password of %q: %w", name, s.hint(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: set password of %q: %w", name, err)
	} else if n == 0 {
		return fmt.Errorf("store: set password of %q: %w", name, ErrNotFound)
	}
	return nil
}

func (s *sqliteStore) Taken(ctx context.Context, names []string) (map[string]bool, error) {
	taken, valid := takenStart(names)
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
		return nil, fmt.Errorf("store: check names: %w", s.hint(err))
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
		return nil, fmt.Errorf("store: check names: %w", s.hint(err))
	}
	return taken, nil
}

func (s *sqliteStore) SkeletonOwners(ctx context.Context, skeletons []string) (map[string]string, error) {
	owners := map[string]string{}
	_, valid := takenStart(skeletons)
	if len(valid) == 0 {
		return owners, nil
	}
	list, err := json.Marshal(valid)
	if err != nil {
		return nil, fmt.Errorf("store: check look-alikes: %w", err)
	}
	rows, err := s.query(ctx,
		`SELECT skeleton, name FROM users WHERE skeleton IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return nil, fmt.Errorf("store: check look-alikes: %w", s.hint(err))
	}
	defer rows.Close()
	for rows.Next() {
		var sk, n string
		if err := rows.Scan(&sk, &n); err != nil {
			return nil, fmt.Errorf("store: check look-alikes: %w", err)
		}
		owners[sk] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: check look-alikes: %w", s.hint(err))
	}
	return owners, nil
}

func (s *sqliteStore) HasCertifiedKey(ctx context.Context, username string, peerKey []byte) (bool, error) {
	if !validText(username) || len(peerKey) == 0 {
		return false, nil
	}
	rows, err := s.query(ctx, `SELECT 1 FROM certificates WHERE username = ? AND peer_key = ? LIMIT 1`, username, peerKey)
	if err != nil {
		return false, fmt.Errorf("store: certified keys of %q: %w", username, s.hint(err))
	}
	defer rows.Close()
	found := rows.Next()
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("store: certified keys of %q: %w", username, s.hint(err))
	}
	return found, nil
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
		return nil, fmt.Errorf("store: search users %q: %w", prefix, s.hint(err))
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
		return nil, fmt.Errorf("store: search users %q: %w", prefix, s.hint(err))
	}
	return users, nil
}

func (s *sqliteStore) NextSerial(ctx context.Context) (uint64, error) {
	var serial int64
	err := s.writer.QueryRowContext(ctx,
		`UPDATE counters SET value = value + 1 WHERE name = 'certificate_serial' RETURNING value`).Scan(&serial)
	if err != nil {
		return 0, fmt.Errorf("store: next certificate serial: %w", s.hint(err))
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
	return fmt.Errorf("store: add certificate %d: %w", c.Serial, s.hint(err))
}

func (s *sqliteStore) Certificates(ctx context.Context, username string, now time.Time, limit int) ([]Certificate, error) {
	return s.readCertificates(ctx, s.query, username, now, limit)
}

func (s *sqliteStore) readCertificates(ctx context.Context, query queryFunc, username string, now time.Time, limit int) ([]Certificate, error) {
	limit = clampLimit(limit)
	if limit == 0 || !validText(username) {
		return nil, nil
	}
	rows, err := query(ctx,
		`SELECT serial, username, peer_key, issued, expires, raw FROM certificates
		WHERE username = ? AND expires > ? AND revoked IS NULL ORDER BY issued DESC, serial DESC LIMIT ?`,
		username, now.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: certificates of %q: %w", username, s.hint(err))
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
		return nil, fmt.Errorf("store: certificates of %q: %w", username, s.hint(err))
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
	verified, err := json.Marshal(nonNilStrings(sg.VerifiedAddrs))
	if err != nil {
		return fmt.Errorf("store: record sighting of %q: %w", sg.Username, err)
	}
	if sg.Seen.IsZero() {
		sg.Seen = now()
	}
	// Only a newer sighting of a (user, peer) replaces the recorded one,
	// and only for an account that exists and is enabled.
	res, err := s.exec(ctx,
		`INSERT INTO sightings (username, peer_id, addrs, super_node, seen, source, verified_addrs, expires)
		SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE name = ? AND disabled = 0)
		ON CONFLICT (username, peer_id) DO UPDATE SET
			addrs = excluded.addrs, super_node = excluded.super_node, seen = excluded.seen,
			source = excluded.source, verified_addrs = excluded.verified_addrs, expires = excluded.expires
		WHERE excluded.seen > sightings.seen`,
		sg.Username, sg.PeerID, string(addrs), sg.SuperNode, sg.Seen.UnixMicro(), sg.Source, string(verified), expiresOf(sg).UnixMicro(), sg.Username)
	if err != nil {
		return fmt.Errorf("store: record sighting of %q: %w", sg.Username, s.hint(err))
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	return s.whyNotSeen(ctx, sg.Username)
}

// whyNotSeen says why Seen changed nothing: the account is missing or
// disabled, else the recorded sighting is as new.
func (s *sqliteStore) whyNotSeen(ctx context.Context, name string) error {
	u, err := s.User(ctx, name)
	switch {
	case err != nil:
		return fmt.Errorf("store: record sighting: %w", err)
	case u.Disabled:
		return fmt.Errorf("store: record sighting of %q: %w", name, ErrDisabled)
	}
	return fmt.Errorf("store: record sighting of %q: %w", name, ErrStale)
}

// SetDisabled disables or enables name; disabling ends its sightings.
func (s *sqliteStore) SetDisabled(ctx context.Context, name string, disabled bool) error {
	if !validText(name) {
		return fmt.Errorf("store: disable %q: %w", name, ErrNotFound)
	}
	return s.inTx(ctx, "disable "+name, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET disabled = ? WHERE name = ?`, disabled, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, ErrNotFound)
		}
		if disabled {
			_, err = tx.ExecContext(ctx, `UPDATE sightings SET expires = ? WHERE username = ? AND expires >= ?`, now().UnixMicro()-1, name, now().UnixMicro())
		}
		return err
	})
}

// RevokeCertificates revokes the user's unexpired certificates.
func (s *sqliteStore) RevokeCertificates(ctx context.Context, username string, at time.Time) (int64, error) {
	if !validText(username) {
		return 0, fmt.Errorf("store: revoke certificates of %q: %w", username, ErrNotFound)
	}
	var revoked int64
	err := s.inTx(ctx, "revoke certificates of "+username, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE name = ?`, username).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		us := at.UnixMicro()
		res, err := tx.ExecContext(ctx, `UPDATE certificates SET revoked = ? WHERE username = ? AND revoked IS NULL AND expires > ?`, us, username, us)
		if err != nil {
			return err
		}
		if revoked, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE sightings SET expires = ? WHERE username = ? AND expires >= ?`, us-1, username, us)
		return err
	})
	return revoked, err
}

// RevokeCertificate revokes one certificate.
func (s *sqliteStore) RevokeCertificate(ctx context.Context, serial uint64, at time.Time) (bool, error) {
	res, err := s.exec(ctx, `UPDATE certificates SET revoked = ? WHERE serial = ? AND revoked IS NULL`, at.UnixMicro(), int64(serial))
	if err != nil {
		return false, fmt.Errorf("store: revoke certificate %d: %w", serial, s.hint(err))
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Revocations lists the revoked certificates that have not expired.
func (s *sqliteStore) Revocations(ctx context.Context, now time.Time, limit int) ([]Certificate, error) {
	rows, err := s.query(ctx, `SELECT serial, username, expires, revoked FROM certificates
		WHERE revoked IS NOT NULL AND expires > ? ORDER BY serial LIMIT ?`, now.UnixMicro(), max(0, min(limit, maxRevocations)))
	if err != nil {
		return nil, fmt.Errorf("store: revocations: %w", s.hint(err))
	}
	defer rows.Close()
	var out []Certificate
	for rows.Next() {
		var c Certificate
		var serial, expires, revoked int64
		if err := rows.Scan(&serial, &c.Username, &expires, &revoked); err != nil {
			return nil, fmt.Errorf("store: revocations: %w", err)
		}
		c.Serial, c.Expires, c.Revoked = uint64(serial), fromMicros(expires), fromMicros(revoked)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: revocations: %w", s.hint(err))
	}
	return out, nil
}

// inTx runs fn in a write transaction.
func (s *sqliteStore) inTx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, s.hint(err))
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("store: %s: %w", what, ErrNotFound)
		}
		return fmt.Errorf("store: %s: %w", what, s.hint(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %s: %w", what, s.hint(err))
	}
	return nil
}

func (s *sqliteStore) Sightings(ctx context.Context, username string, since time.Time, limit int) ([]Sighting, error) {
	return s.readSightings(ctx, s.query, username, since, limit)
}

func (s *sqliteStore) readSightings(ctx context.Context, query queryFunc, username string, since time.Time, limit int) ([]Sighting, error) {
	if !validText(username) {
		return nil, nil
	}
	return s.sightings(ctx, query, fmt.Sprintf("sightings of %q", username),
		`SELECT `+sightingColumns+` FROM sightings
		WHERE username = ? AND expires >= ? ORDER BY seen DESC, peer_id LIMIT ?`,
		username, since.UnixMicro(), clampLimit(limit))
}

func (s *sqliteStore) BootstrapNodes(ctx context.Context, q BootstrapQuery) ([]Sighting, error) {
	query := bootstrapQuery(false, "super_node = 1")
	if !q.SuperOnly {
		query = bootstrapQuery(false, "1 = 1")
	}
	return s.sightings(ctx, s.query, "bootstrap nodes", query,
		q.Since.UnixMicro(), max(q.PerUser, 0), max(q.PerSource, 0), clampLimit(q.Limit))
}

func (s *sqliteStore) MarkSuperNode(ctx context.Context, username, peerID string, seen time.Time, addrs []string) error {
	list, err := json.Marshal(nonNilStrings(addrs))
	if err != nil {
		return fmt.Errorf("store: mark super-node %s: %w", peerID, err)
	}
	res, err := s.exec(ctx, `UPDATE sightings SET super_node = 1, verified_addrs = ?
		WHERE username = ? AND peer_id = ? AND seen = ?`, string(list), username, peerID, seen.UnixMicro())
	if err != nil {
		return fmt.Errorf("store: mark super-node %s: %w", peerID, s.hint(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: mark super-node %s: %w", peerID, err)
	} else if n == 0 {
		return fmt.Errorf("store: mark super-node %s of %q seen at %v: %w", peerID, username, seen, ErrNotFound)
	}
	return nil
}

func (s *sqliteStore) sightings(ctx context.Context, run queryFunc, what, query string, args ...any) ([]Sighting, error) {
	if args[len(args)-1] == 0 {
		return nil, nil
	}
	rows, err := run(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, s.hint(err))
	}
	defer rows.Close()
	var out []Sighting
	for rows.Next() {
		var sg Sighting
		var addrs, verified string
		var seen, expires int64
		if err := rows.Scan(&sg.Username, &sg.PeerID, &addrs, &sg.SuperNode, &seen, &sg.Source, &verified, &expires); err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		if err := json.Unmarshal([]byte(addrs), &sg.Addrs); err != nil {
			return nil, fmt.Errorf("store: %s: stored addresses of %s are not a JSON list: %w", what, sg.PeerID, err)
		}
		if err := json.Unmarshal([]byte(verified), &sg.VerifiedAddrs); err != nil {
			return nil, fmt.Errorf("store: %s: stored verified addresses of %s are not a JSON list: %w", what, sg.PeerID, err)
		}
		if len(sg.Addrs) == 0 {
			sg.Addrs = nil
		}
		if len(sg.VerifiedAddrs) == 0 {
			sg.VerifiedAddrs = nil
		}
		sg.Seen, sg.Expires = fromMicros(seen), fromMicros(expires)
		out = append(out, sg)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, s.hint(err))
	}
	return out, nil
}

// PruneSightings deletes the sightings that expired before the given time.
func (s *sqliteStore) PruneSightings(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM sightings WHERE expires < ?`, before.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("store: prune sightings: %w", s.hint(err))
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

// sqliteSkeletonTx runs syncSkeletons' statements in the migration
// transaction.
type sqliteSkeletonTx struct{ tx *sql.Tx }

func (t sqliteSkeletonTx) meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := t.tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return v, err == nil, err
}

func (t sqliteSkeletonTx) setMeta(ctx context.Context, key, value string) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

func (t sqliteSkeletonTx) clearSkeletons(ctx context.Context) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE users SET skeleton = NULL`)
	return err
}

func (t sqliteSkeletonTx) userNames(ctx context.Context) ([]string, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT name FROM users ORDER BY created, name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

func (t sqliteSkeletonTx) setSkeletons(ctx context.Context, names, skeletons []string) error {
	st, err := t.tx.PrepareContext(ctx, `UPDATE users SET skeleton = ? WHERE name = ?`)
	if err != nil {
		return err
	}
	defer st.Close()
	for i, n := range names {
		if _, err := st.ExecContext(ctx, skeletons[i], n); err != nil {
			return err
		}
	}
	return nil
}
