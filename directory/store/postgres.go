package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/peercall/peercall/directory/lookalike"
)

// postgresStore is the PostgreSQL Store, for several directory replicas
// sharing one database. Each statement runs in its own transaction, and
// PostgreSQL acknowledges a commit once its WAL is flushed
// (synchronous_commit=on, the default, which this store does not change).
type postgresStore struct {
	where  string // host:port/database, for messages (never the password)
	pool   *pgxpool.Pool
	faults faultLog // the last disk-full, I/O or corruption error seen
}

// SQLSTATEs of faults of the server itself (Health reports them).
var pgFaults = map[string]string{
	"53100": "the PostgreSQL server's disk is full; free space there",
	"53200": "the PostgreSQL server is out of memory",
	"58030": "the PostgreSQL server had an I/O error; check its disk and log",
	"XX001": "PostgreSQL found corrupted data; check the server's log and restore from a backup",
	"XX002": "PostgreSQL found a corrupted index; REINDEX it (see the server's log)",
}

// fault remembers err for Health when it is a fault of the server, and
// returns it.
func (s *postgresStore) fault(err error) error {
	if hint, ok := pgFaults[pgCode(err)]; ok {
		s.faults.note(fmt.Errorf("%w (%s)", err, hint))
	}
	return err
}

// Health pings the server and reports a fault seen lately.
func (s *postgresStore) Health(ctx context.Context) Health {
	h := Health{Backend: "postgres", Path: s.where, FreeBytes: -1}
	if err := s.pool.Ping(ctx); err != nil {
		h.Problem = fmt.Sprintf("the PostgreSQL server at %s does not answer: %v", s.where, err)
		return h
	}
	if f := s.faults.recent(); f != "" {
		h.Problem = "a recent request failed: " + f
	}
	return h
}

// pgCode returns the SQLSTATE of err, or "".
func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
)

func (s *postgresStore) CreateUser(ctx context.Context, u User) error {
	if err := checkUser(u); err != nil {
		return err
	}
	if u.Created.IsZero() {
		u.Created = now()
	}
	_, err := s.pool.Exec(ctx,
		`INSERT INTO users (name, display, password_hash, created, skeleton) VALUES ($1, $2, $3, $4, $5)`,
		u.Name, u.Display, u.PasswordHash, u.Created, lookalike.Skeleton(u.Name))
	switch {
	case err == nil:
		return nil
	case pgCode(err) == pgUniqueViolation:
		return fmt.Errorf("store: create user %q: %w", u.Name, ErrNameTaken)
	}
	return fmt.Errorf("store: create user %q: %w", u.Name, s.fault(err))
}

func (s *postgresStore) SkeletonOwners(ctx context.Context, skeletons []string) (map[string]string, error) {
	owners := map[string]string{}
	_, valid := takenStart(skeletons)
	if len(valid) == 0 {
		return owners, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT skeleton, name FROM users WHERE skeleton = ANY($1)`, valid)
	if err != nil {
		return nil, fmt.Errorf("store: check look-alikes: %w", s.fault(err))
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
		return nil, fmt.Errorf("store: check look-alikes: %w", s.fault(err))
	}
	return owners, nil
}

func (s *postgresStore) HasCertifiedKey(ctx context.Context, username string, peerKey []byte) (bool, error) {
	if !validText(username) || len(peerKey) == 0 {
		return false, nil
	}
	var found bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM certificates WHERE username = $1 AND peer_key = $2)`, username, peerKey).Scan(&found)
	if err != nil {
		return false, fmt.Errorf("store: certified keys of %q: %w", username, s.fault(err))
	}
	return found, nil
}

// The queries of a user's page.
const (
	pgUserQuery = `SELECT name, display, password_hash, created, disabled FROM users WHERE name = $1`
	pgCertQuery = `SELECT serial, username, peer_key, issued, expires, raw FROM certificates
		WHERE username = $1 AND expires > $2 AND revoked IS NULL ORDER BY issued DESC, serial DESC LIMIT $3`
	pgSightingsQuery = `SELECT ` + sightingColumns + ` FROM sightings
		WHERE username = $1 AND expires >= $2 ORDER BY seen DESC, peer_id LIMIT $3`
)

func (s *postgresStore) User(ctx context.Context, name string) (User, error) {
	if !validText(name) {
		return User{}, fmt.Errorf("store: user %q: %w", name, ErrNotFound)
	}
	return scanUser(name, s.pool.QueryRow(ctx, pgUserQuery, name))
}

func scanUser(name string, row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.Name, &u.Display, &u.PasswordHash, &u.Created, &u.Disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("store: user %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("store: look up user %q: %w", name, err)
	}
	u.Created = u.Created.UTC()
	return u, nil
}

func scanCertificate(row pgx.CollectableRow) (Certificate, error) {
	var c Certificate
	var serial int64
	err := row.Scan(&serial, &c.Username, &c.PeerKey, &c.Issued, &c.Expires, &c.Raw)
	c.Serial, c.Issued, c.Expires = uint64(serial), c.Issued.UTC(), c.Expires.UTC()
	return c, err
}

func scanSighting(row pgx.CollectableRow) (Sighting, error) {
	var sg Sighting
	err := row.Scan(&sg.Username, &sg.PeerID, &sg.Addrs, &sg.SuperNode, &sg.Seen, &sg.Source, &sg.VerifiedAddrs, &sg.Expires)
	if len(sg.Addrs) == 0 {
		sg.Addrs = nil
	}
	if len(sg.VerifiedAddrs) == 0 {
		sg.VerifiedAddrs = nil
	}
	sg.Seen, sg.Expires = sg.Seen.UTC(), sg.Expires.UTC()
	return sg, err
}

// collect reads all rows with scan; no rows gives nil, as SQLite does.
func collect[T any](rows pgx.Rows, scan pgx.RowToFunc[T]) ([]T, error) {
	out, err := pgx.CollectRows(rows, scan)
	if len(out) == 0 {
		out = nil
	}
	return out, err
}

// pgPageQuery is UserPage's one statement: the user's row (kind 0), its
// live certificates (kind 1) and its live sightings (kind 2), so that a
// lookup costs the server one statement, not three (measured: the
// PostgreSQL backend's CPU was most of a lookup's). Columns by kind:
//
//	kind  t1       t2             a1     a2              ts1      ts2      b1          n1      y1        y2
//	0     display  password_hash                         created           disabled
//	1                                                    issued   expires              serial  peer_key  raw
//	2     peer_id  source         addrs  verified_addrs  seen     expires  super_node
const pgPageQuery = `SELECT 0 AS kind, display AS t1, password_hash AS t2, NULL::text[] AS a1, NULL::text[] AS a2,
		created AS ts1, NULL::timestamptz AS ts2, disabled AS b1, NULL::bigint AS n1, NULL::bytea AS y1, NULL::bytea AS y2
		FROM users WHERE name = $1
	UNION ALL (SELECT 1, NULL, NULL, NULL, NULL, issued, expires, NULL, serial, peer_key, raw FROM certificates
		WHERE username = $1 AND expires > $2 AND revoked IS NULL ORDER BY issued DESC, serial DESC LIMIT $3)
	UNION ALL (SELECT 2, peer_id, source, addrs, verified_addrs, seen, expires, super_node, NULL, NULL, NULL FROM sightings
		WHERE username = $1 AND expires >= $4 ORDER BY seen DESC, peer_id LIMIT $5)`

// UserPage reads the user, its certificates and its sightings in one
// statement (pgPageQuery).
func (s *postgresStore) UserPage(ctx context.Context, name string, pq PageQuery) (UserPage, error) {
	if !validText(name) {
		return UserPage{}, fmt.Errorf("store: user %q: %w", name, ErrNotFound)
	}
	rows, err := s.pool.Query(ctx, pgPageQuery, name, pq.Now, clampLimit(pq.CertLimit), pq.Since, clampLimit(pq.SightingLimit))
	if err != nil {
		return UserPage{}, fmt.Errorf("store: read user %q: %w", name, err)
	}
	defer rows.Close()
	var (
		page   UserPage
		found  bool
		kind   int32
		t1, t2 pgtype.Text
		a1, a2 []string
		ts1    time.Time
		ts2    pgtype.Timestamptz
		b1     pgtype.Bool
		n1     pgtype.Int8
		y1, y2 []byte
	)
	for rows.Next() {
		a1, a2, y1, y2 = nil, nil, nil, nil
		if err := rows.Scan(&kind, &t1, &t2, &a1, &a2, &ts1, &ts2, &b1, &n1, &y1, &y2); err != nil {
			return UserPage{}, fmt.Errorf("store: read user %q: %w", name, err)
		}
		switch kind {
		case 0:
			found = true
			page.User = User{Name: name, Display: t1.String, PasswordHash: t2.String, Created: ts1.UTC(), Disabled: b1.Bool}
		case 1:
			page.Certificates = append(page.Certificates, Certificate{Serial: uint64(n1.Int64), Username: name,
				PeerKey: y1, Issued: ts1.UTC(), Expires: ts2.Time.UTC(), Raw: y2})
		case 2:
			sg := Sighting{Username: name, PeerID: t1.String, Source: t2.String, Addrs: a1, VerifiedAddrs: a2,
				Seen: ts1.UTC(), Expires: ts2.Time.UTC(), SuperNode: b1.Bool}
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
		return UserPage{}, fmt.Errorf("store: read user %q: %w", name, err)
	}
	if !found {
		return UserPage{}, fmt.Errorf("store: user %q: %w", name, ErrNotFound)
	}
	sortPage(&page)
	return page, nil
}

func (s *postgresStore) SetPasswordHash(ctx context.Context, name, hash string) error {
	if hash == "" {
		return fmt.Errorf("store: set password of %q: empty hash (hash the password before storing it)", name)
	}
	if !validText(hash) {
		return fmt.Errorf("store: set password of %q: the hash is not valid UTF-8 text", name)
	}
	if !validText(name) {
		return fmt.Errorf("store: set password of %q: %w", name, ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $1 WHERE name = $2`, hash, name)
	if err != nil {
		return fmt.Errorf("store: set password of %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: set password of %q: %w", name, ErrNotFound)
	}
	return nil
}

func (s *postgresStore) Taken(ctx context.Context, names []string) (map[string]bool, error) {
	taken, valid := takenStart(names)
	if len(valid) == 0 {
		return taken, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT name FROM users WHERE name = ANY($1)`, valid)
	if err != nil {
		return nil, fmt.Errorf("store: check names: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store: check names: %w", err)
	}
	for _, n := range found {
		taken[n] = true
	}
	return taken, nil
}

func (s *postgresStore) SearchUsers(ctx context.Context, prefix, after string, limit int) ([]User, error) {
	limit = clampLimit(limit)
	after, ok := searchArgs(prefix, after)
	if limit == 0 || !ok {
		return nil, nil
	}
	query := `SELECT name, display, password_hash, created FROM users WHERE name >= $1 AND name > $2`
	args := []any{prefix, after}
	if end, ok := prefixEnd(prefix); ok {
		query += ` AND name < $4`
		args = append(args, limit, end)
	} else {
		args = append(args, limit)
	}
	query += ` ORDER BY name LIMIT $3`
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: search users %q: %w", prefix, err)
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (User, error) {
		var u User
		err := row.Scan(&u.Name, &u.Display, &u.PasswordHash, &u.Created)
		u.Created = u.Created.UTC()
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: search users %q: %w", prefix, err)
	}
	if len(users) == 0 {
		return nil, nil
	}
	return users, nil
}

func (s *postgresStore) NextSerial(ctx context.Context) (uint64, error) {
	// nextval is durable once this statement's transaction commits: a
	// sequence advance that is WAL-logged assigns a transaction ID, so the
	// commit flushes it.
	var serial int64
	if err := s.pool.QueryRow(ctx, `SELECT nextval('certificate_serial')`).Scan(&serial); err != nil {
		return 0, fmt.Errorf("store: next certificate serial: %w", err)
	}
	return uint64(serial), nil
}

func (s *postgresStore) AddCertificate(ctx context.Context, c Certificate) error {
	if c.Serial == 0 || c.Serial > math.MaxInt64 {
		return fmt.Errorf("store: add certificate: serial %d out of range (take serials from NextSerial)", c.Serial)
	}
	if !validText(c.Username) {
		return fmt.Errorf("store: add certificate %d for %q: %w", c.Serial, c.Username, ErrNotFound)
	}
	_, err := s.pool.Exec(ctx,
		`INSERT INTO certificates (serial, username, peer_key, issued, expires, raw) VALUES ($1, $2, $3, $4, $5, $6)`,
		int64(c.Serial), c.Username, nonNil(c.PeerKey), c.Issued, c.Expires, nonNil(c.Raw))
	switch pgCode(err) {
	case "":
		if err == nil {
			return nil
		}
	case pgUniqueViolation:
		return fmt.Errorf("store: add certificate: serial %d is recorded already (take serials from NextSerial)", c.Serial)
	case pgForeignKeyViolation:
		return fmt.Errorf("store: add certificate %d for %q: %w", c.Serial, c.Username, ErrNotFound)
	}
	return fmt.Errorf("store: add certificate %d: %w", c.Serial, err)
}

func (s *postgresStore) Certificates(ctx context.Context, username string, now time.Time, limit int) ([]Certificate, error) {
	limit = clampLimit(limit)
	if limit == 0 || !validText(username) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, pgCertQuery, username, now, limit)
	if err != nil {
		return nil, fmt.Errorf("store: certificates of %q: %w", username, err)
	}
	certs, err := collect(rows, scanCertificate)
	if err != nil {
		return nil, fmt.Errorf("store: certificates of %q: %w", username, err)
	}
	return certs, nil
}

func (s *postgresStore) Seen(ctx context.Context, sg Sighting) error {
	if err := checkSighting(sg); err != nil {
		return err
	}
	if !validText(sg.Username) {
		return fmt.Errorf("store: record sighting of %q: %w", sg.Username, ErrNotFound)
	}
	if sg.Seen.IsZero() {
		sg.Seen = now()
	}
	// Only a newer sighting of a (user, peer) replaces the recorded one,
	// and only for an account that exists and is enabled. The statement
	// commits asynchronously (synchronous_commit off for its own
	// transaction: set_config's is_local): it does not wait for the WAL's
	// fsync, which on a busy disk took most of a check-in's time and, in a
	// mass return of nodes, capped check-ins at the disk's flush rate. A
	// crash of the database server itself may lose the check-ins of its
	// last moments (at most three wal_writer_delay, 600 ms by default);
	// their nodes check in again. Nothing else is committed so.
	tag, err := s.pool.Exec(ctx,
		`INSERT INTO sightings (username, peer_id, addrs, super_node, seen, source, verified_addrs, expires)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
		WHERE EXISTS (SELECT 1 FROM users WHERE name = $1 AND NOT disabled)
		ON CONFLICT (username, peer_id) DO UPDATE SET
			addrs = excluded.addrs, super_node = excluded.super_node, seen = excluded.seen,
			source = excluded.source, verified_addrs = excluded.verified_addrs, expires = excluded.expires
		WHERE excluded.seen > sightings.seen`,
		sg.Username, sg.PeerID, nonNilStrings(sg.Addrs), sg.SuperNode, sg.Seen, sg.Source, nonNilStrings(sg.VerifiedAddrs), expiresOf(sg))
	if err != nil {
		return fmt.Errorf("store: record sighting of %q: %w", sg.Username, s.fault(err))
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	u, err := s.User(ctx, sg.Username)
	switch {
	case err != nil:
		return fmt.Errorf("store: record sighting: %w", err)
	case u.Disabled:
		return fmt.Errorf("store: record sighting of %q: %w", sg.Username, ErrDisabled)
	}
	return fmt.Errorf("store: record sighting of %q: %w", sg.Username, ErrStale)
}

// SetDisabled disables or enables name; disabling ends its sightings.
func (s *postgresStore) SetDisabled(ctx context.Context, name string, disabled bool) error {
	if !validText(name) {
		return fmt.Errorf("store: disable %q: %w", name, ErrNotFound)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET disabled = $1 WHERE name = $2`, disabled, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if disabled {
			t := now()
			_, err = tx.Exec(ctx, `UPDATE sightings SET expires = $1 WHERE username = $2 AND expires >= $3`, t.Add(-time.Microsecond), name, t)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store: disable %q: %w", name, s.fault(err))
	}
	return nil
}

// RevokeCertificates revokes the user's unexpired certificates.
func (s *postgresStore) RevokeCertificates(ctx context.Context, username string, at time.Time) (int64, error) {
	if !validText(username) {
		return 0, fmt.Errorf("store: revoke certificates of %q: %w", username, ErrNotFound)
	}
	var revoked int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE name = $1`, username).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE certificates SET revoked = $1 WHERE username = $2 AND revoked IS NULL AND expires > $1`, at, username)
		if err != nil {
			return err
		}
		revoked = tag.RowsAffected()
		_, err = tx.Exec(ctx, `UPDATE sightings SET expires = $1 WHERE username = $2 AND expires >= $3`, at.Add(-time.Microsecond), username, at)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: revoke certificates of %q: %w", username, s.fault(err))
	}
	return revoked, nil
}

// RevokeCertificate revokes one certificate.
func (s *postgresStore) RevokeCertificate(ctx context.Context, serial uint64, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE certificates SET revoked = $1 WHERE serial = $2 AND revoked IS NULL`, at, int64(serial))
	if err != nil {
		return false, fmt.Errorf("store: revoke certificate %d: %w", serial, s.fault(err))
	}
	return tag.RowsAffected() > 0, nil
}

// Revocations lists the revoked certificates that have not expired.
func (s *postgresStore) Revocations(ctx context.Context, now time.Time, limit int) ([]Certificate, error) {
	rows, err := s.pool.Query(ctx, `SELECT serial, username, expires, revoked FROM certificates
		WHERE revoked IS NOT NULL AND expires > $1 ORDER BY serial LIMIT $2`, now, max(0, min(limit, maxRevocations)))
	if err != nil {
		return nil, fmt.Errorf("store: revocations: %w", s.fault(err))
	}
	out, err := collect(rows, func(row pgx.CollectableRow) (Certificate, error) {
		var c Certificate
		var serial int64
		err := row.Scan(&serial, &c.Username, &c.Expires, &c.Revoked)
		c.Serial, c.Expires, c.Revoked = uint64(serial), c.Expires.UTC(), c.Revoked.UTC()
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: revocations: %w", err)
	}
	return out, nil
}

func (s *postgresStore) Sightings(ctx context.Context, username string, since time.Time, limit int) ([]Sighting, error) {
	if !validText(username) {
		return nil, nil
	}
	return s.sightings(ctx, fmt.Sprintf("sightings of %q", username), pgSightingsQuery,
		username, since, clampLimit(limit))
}

func (s *postgresStore) BootstrapNodes(ctx context.Context, q BootstrapQuery) ([]Sighting, error) {
	query := bootstrapQuery(true, "super_node")
	if !q.SuperOnly {
		query = bootstrapQuery(true, "true")
	}
	return s.sightings(ctx, "bootstrap nodes", query, q.Since, max(q.PerUser, 0), max(q.PerSource, 0), clampLimit(q.Limit))
}

func (s *postgresStore) MarkSuperNode(ctx context.Context, username, peerID string, seen time.Time, addrs []string) error {
	if !validText(username) || !validText(peerID) {
		return fmt.Errorf("store: mark super-node %q: %w", peerID, ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE sightings SET super_node = true, verified_addrs = $1
		WHERE username = $2 AND peer_id = $3 AND seen = $4`, nonNilStrings(addrs), username, peerID, seen)
	if err != nil {
		return fmt.Errorf("store: mark super-node %s: %w", peerID, s.fault(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: mark super-node %s of %q seen at %v: %w", peerID, username, seen, ErrNotFound)
	}
	return nil
}

func (s *postgresStore) sightings(ctx context.Context, what, query string, args ...any) ([]Sighting, error) {
	if args[len(args)-1] == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, s.fault(err))
	}
	out, err := collect(rows, scanSighting)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

// PruneSightings deletes the sightings that expired before the given time.
func (s *postgresStore) PruneSightings(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sightings WHERE expires < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("store: prune sightings: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Close closes the pool, waiting for connections in use to be released.
func (s *postgresStore) Close() error {
	s.pool.Close()
	return nil
}
