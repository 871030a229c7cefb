package contacts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/peercall/peercall/internal/sqlitefile"
)

// State is where a contact stands with this user.
type State string

// Contact states, spelt as in `contacts --json`.
const (
	// StateOutgoing: this user asked; no answer yet.
	StateOutgoing State = "outgoing"
	// StateIncoming: they asked; this user has not answered.
	StateIncoming State = "incoming"
	// StateAccepted: both agreed; they see each other's status.
	StateAccepted State = "accepted"
	// StateBlocked: nothing from them reaches this user.
	StateBlocked State = "blocked"
)

func (s State) valid() bool {
	switch s {
	case StateOutgoing, StateIncoming, StateAccepted, StateBlocked:
		return true
	}
	return false
}

// Record is one row of the contact list.
type Record struct {
	Username string    `json:"username"`
	PeerID   string    `json:"peer_id,omitempty"`
	State    State     `json:"state"`
	Note     string    `json:"note,omitempty"`
	Added    time.Time `json:"added"`
	Updated  time.Time `json:"updated"`
}

// Outgoing is a message waiting in the outbox for its recipient.
type Outgoing struct {
	ID       int64
	Username string
	Type     Type
	Note     string
	Attempts int
	Next     time.Time
}

// Call is one entry of the call history.
type Call struct {
	CallID    string    `json:"call_id"`
	Peer      string    `json:"peer"`
	Direction string    `json:"direction"`
	Started   time.Time `json:"started"`
	DurationS float64   `json:"duration_s"`
	Connected bool      `json:"connected"`
	Route     string    `json:"route,omitempty"`
	End       string    `json:"end,omitempty"`
}

// ErrNotFound: no such contact.
var ErrNotFound = errors.New("no such contact")

// migrations bring the schema from version i to i+1 (PRAGMA user_version).
// Append, never edit.
var migrations = []string{
	`CREATE TABLE contacts (
		username TEXT PRIMARY KEY,
		peer_id  TEXT NOT NULL DEFAULT '',
		state    TEXT NOT NULL CHECK (state IN ('outgoing','incoming','accepted','blocked')),
		note     TEXT NOT NULL DEFAULT '',
		added    INTEGER NOT NULL,
		updated  INTEGER NOT NULL
	);
	CREATE TABLE outbox (
		id       INTEGER PRIMARY KEY AUTOINCREMENT,
		username TEXT NOT NULL,
		type     INTEGER NOT NULL,
		note     TEXT NOT NULL DEFAULT '',
		attempts INTEGER NOT NULL DEFAULT 0,
		next_at  INTEGER NOT NULL
	);
	CREATE INDEX outbox_next ON outbox (next_at);
	CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
	CREATE TABLE calls (
		call_id    TEXT PRIMARY KEY,
		peer       TEXT NOT NULL,
		direction  TEXT NOT NULL,
		started    INTEGER NOT NULL,
		duration_s REAL NOT NULL,
		connected  INTEGER NOT NULL,
		route      TEXT NOT NULL DEFAULT '',
		end_reason TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX calls_started ON calls (started);`,
}

// applicationID marks contacts.db as peercall's ("PCct").
const applicationID = 0x50436374

// maxHistory is how many calls the history keeps.
const maxHistory = 1000

// Store is the home's contacts.db: the contact list, the outbox, this
// user's chosen status and the call history. Every change is one
// transaction in a write-ahead log with synchronous=FULL, so a kill -9 loses
// at most the change being made.
type Store struct {
	db   *sql.DB
	path string
}

// OpenStore opens (creating, mode 0600) the database at path and migrates
// its schema.
func OpenStore(ctx context.Context, path string) (*Store, error) {
	db, err := sqlitefile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("contacts: %w", err)
	}
	s := &Store{db: db, path: path}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB is the handle on contacts.db, for package chat's tables beside the
// contact list's (chat.NewStore): one handle, so one connection, for the
// file.
func (s *Store) DB() *sql.DB { return s.db }

func (s *Store) migrate(ctx context.Context) (err error) {
	var check string
	if err := s.db.QueryRowContext(ctx, `PRAGMA quick_check(1)`).Scan(&check); err != nil {
		return fmt.Errorf("contacts: %s is not a readable SQLite database: %w; move it away to start an empty contact list", s.path, err)
	}
	if check != "ok" {
		return fmt.Errorf("contacts: %s is damaged (%s); move it away to start an empty contact list", s.path, check)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("contacts: open %s: %w", s.path, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var version, appID int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("contacts: read the schema version of %s: %w", s.path, err)
	}
	if err := tx.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&appID); err != nil {
		return fmt.Errorf("contacts: read the application id of %s: %w", s.path, err)
	}
	if appID != 0 && appID != applicationID {
		return fmt.Errorf("contacts: %s belongs to another application (application_id %#x); move it away", s.path, appID)
	}
	if version > len(migrations) {
		return fmt.Errorf("contacts: %s has schema version %d, newer than this peercall knows (%d); run a newer peercall", s.path, version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("contacts: migrate %s to schema version %d: %w", s.path, v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d; PRAGMA application_id = %d`, len(migrations), applicationID)); err != nil {
		return fmt.Errorf("contacts: record the schema version of %s: %w", s.path, err)
	}
	return tx.Commit()
}

func unix(t time.Time) int64 { return t.UnixMilli() }

func fromUnix(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// Get returns the contact username, or ErrNotFound.
func (s *Store) Get(ctx context.Context, username string) (Record, error) {
	row := s.db.QueryRowContext(ctx, `SELECT username, peer_id, state, note, added, updated FROM contacts WHERE username = ?`, username)
	r, err := scanRecord(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, fmt.Errorf("%w %q", ErrNotFound, username)
	}
	return r, err
}

func scanRecord(scan func(...any) error) (Record, error) {
	var r Record
	var added, updated int64
	var state string
	if err := scan(&r.Username, &r.PeerID, &state, &r.Note, &added, &updated); err != nil {
		return Record{}, err
	}
	r.State, r.Added, r.Updated = State(state), fromUnix(added), fromUnix(updated)
	return r, nil
}

// List returns every contact, by username.
func (s *Store) List(ctx context.Context) ([]Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT username, peer_id, state, note, added, updated FROM contacts ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("contacts: list: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, err := scanRecord(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("contacts: list: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Put writes r (inserting or replacing its row) and, when out is set,
// queues out for r's user, in one transaction.
func (s *Store) Put(ctx context.Context, r Record, out *Outgoing) error {
	if !r.State.valid() {
		return fmt.Errorf("contacts: state %q", r.State)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO contacts (username, peer_id, state, note, added, updated) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (username) DO UPDATE SET peer_id = excluded.peer_id, state = excluded.state, note = excluded.note, updated = excluded.updated`,
			r.Username, r.PeerID, string(r.State), r.Note, unix(r.Added), unix(r.Updated)); err != nil {
			return err
		}
		return queue(ctx, tx, out)
	})
}

// Delete removes username's row (if any) and, when out is set, queues out,
// in one transaction.
func (s *Store) Delete(ctx context.Context, username string, out *Outgoing) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM contacts WHERE username = ?`, username); err != nil {
			return err
		}
		return queue(ctx, tx, out)
	})
}

func queue(ctx context.Context, tx *sql.Tx, out *Outgoing) error {
	if out == nil {
		return nil
	}
	// A newer message to the same user replaces what was still waiting:
	// only the latest decision matters.
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE username = ?`, out.Username); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO outbox (username, type, note, attempts, next_at) VALUES (?, ?, ?, 0, ?)`,
		out.Username, int(out.Type), out.Note, unix(out.Next))
	return err
}

func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("contacts: write %s: %w", s.path, err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("contacts: write %s: %w", s.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("contacts: commit to %s: %w", s.path, err)
	}
	return nil
}

// Due returns the outbox messages due at now, oldest first, at most limit.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]Outgoing, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, username, type, note, attempts, next_at FROM outbox WHERE next_at <= ? ORDER BY id LIMIT ?`, unix(now), limit)
	if err != nil {
		return nil, fmt.Errorf("contacts: read the outbox: %w", err)
	}
	defer rows.Close()
	var out []Outgoing
	for rows.Next() {
		var o Outgoing
		var typ int
		var next int64
		if err := rows.Scan(&o.ID, &o.Username, &typ, &o.Note, &o.Attempts, &next); err != nil {
			return nil, err
		}
		o.Type, o.Next = Type(typ), fromUnix(next)
		out = append(out, o)
	}
	return out, rows.Err()
}

// Pending counts the outbox messages waiting for username ("" for all).
func (s *Store) Pending(ctx context.Context, username string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE ? = '' OR username = ?`, username, username).Scan(&n)
	return n, err
}

// Delivered removes outbox message id.
func (s *Store) Delivered(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM outbox WHERE id = ?`, id)
	return err
}

// Retry counts a failed attempt at message id and sets its next try.
func (s *Store) Retry(ctx context.Context, id int64, next time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_at = ? WHERE id = ?`, unix(next), id)
	return err
}

// Hurry makes username's waiting messages due at now (they came online).
func (s *Store) Hurry(ctx context.Context, username string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE outbox SET next_at = ? WHERE username = ? AND next_at > ?`, unix(now), username, unix(now))
	return err
}

// Setting returns the value of key ("" when unset).
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetSetting stores value under key.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("contacts: save setting %s: %w", key, err)
	}
	return nil
}

// AddCall records an ended call, keeping the latest maxHistory.
func (s *Store) AddCall(ctx context.Context, c Call) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO calls (call_id, peer, direction, started, duration_s, connected, route, end_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			c.CallID, c.Peer, c.Direction, unix(c.Started), c.DurationS, c.Connected, c.Route, c.End); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM calls WHERE call_id NOT IN (SELECT call_id FROM calls ORDER BY started DESC LIMIT ?)`, maxHistory)
		return err
	})
}

// History returns the latest limit calls, newest first.
func (s *Store) History(ctx context.Context, limit int) ([]Call, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT call_id, peer, direction, started, duration_s, connected, route, end_reason FROM calls ORDER BY started DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("contacts: read the call history: %w", err)
	}
	defer rows.Close()
	out := []Call{}
	for rows.Next() {
		var c Call
		var started int64
		if err := rows.Scan(&c.CallID, &c.Peer, &c.Direction, &started, &c.DurationS, &c.Connected, &c.Route, &c.End); err != nil {
			return nil, err
		}
		c.Started = fromUnix(started)
		out = append(out, c)
	}
	return out, rows.Err()
}
