package chat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/peercall/peercall/internal/sqlitefile"
)

// Direction of a message.
const (
	In  = "in"
	Out = "out"
)

// Message states. An outgoing message is queued, then delivered (stored
// on the recipient's node), then read; or expired (not delivered within
// chat.retry_for) or refused (blocked, chat disabled there). An incoming one
// is unread, then read.
const (
	StateQueued    = "queued"
	StateDelivered = "delivered"
	StateRead      = "read"
	StateExpired   = "expired"
	StateRefused   = "refused"
	StateUnread    = "unread"
)

// Message is one message of the history.
type Message struct {
	// Local is this node's number for the message (`peercall inbox`).
	Local int64 `json:"local"`
	// ID is the sender's id of the message (hex), the same on both sides.
	ID   string `json:"id"`
	Peer string `json:"peer"`
	Dir  string `json:"dir"`
	// Seq orders the messages of one direction of a conversation.
	Seq      uint64    `json:"seq"`
	Sent     time.Time `json:"sent"`
	Received time.Time `json:"received,omitzero"`
	Text     string    `json:"text"`
	State    string    `json:"state"`
	Reason   string    `json:"reason,omitempty"`
	// Kind is "text" or "voice" (a voice message of DurationMs; its audio
	// is Store.Audio's).
	Kind       string `json:"kind"`
	DurationMs int64  `json:"duration_ms,omitempty"`
}

// Line is m for people: "bob> text", "you> text [queued]", a voice
// message with the command that plays it.
func (m Message) Line() string {
	who, state := m.Peer+">", ""
	if m.Dir == Out {
		who = "you>"
		if m.State != StateDelivered {
			state = " [" + m.State + "]"
		}
	}
	text := strings.ReplaceAll(m.Text, "\n", "\n    ")
	if m.Kind == KindVoice {
		text = fmt.Sprintf("voice message, %.1f s (peercall play %d)", float64(m.DurationMs)/1000, m.Local)
	}
	return who + " " + text + state
}

// Message kinds.
const (
	KindText  = "text"
	KindVoice = "voice"
)

// migrations bring chat's tables from version i to i+1 (chat_meta). They
// live in the home's contacts.db beside package contacts' tables. Append,
// never edit.
var migrations = []string{
	`CREATE TABLE chat_messages (
		local    INTEGER PRIMARY KEY AUTOINCREMENT,
		msg_id   TEXT NOT NULL,
		peer     TEXT NOT NULL,
		dir      TEXT NOT NULL CHECK (dir IN ('in','out')),
		seq      INTEGER NOT NULL,
		sent     INTEGER NOT NULL,
		received INTEGER NOT NULL DEFAULT 0,
		body     TEXT NOT NULL,
		state    TEXT NOT NULL,
		reason   TEXT NOT NULL DEFAULT '',
		expires  INTEGER NOT NULL DEFAULT 0,
		UNIQUE (peer, dir, msg_id)
	);
	CREATE INDEX chat_conv ON chat_messages (peer, sent, seq);
	CREATE INDEX chat_queue ON chat_messages (state, peer, seq) WHERE state IN ('queued', 'unread');
	CREATE TABLE chat_peers (
		username TEXT PRIMARY KEY,
		peer_id  TEXT NOT NULL DEFAULT '',
		next_seq INTEGER NOT NULL DEFAULT 1,
		last_sent INTEGER NOT NULL DEFAULT 0,
		read_upto INTEGER NOT NULL DEFAULT 0,
		read_sent INTEGER NOT NULL DEFAULT 0,
		attempts INTEGER NOT NULL DEFAULT 0,
		next_at  INTEGER NOT NULL DEFAULT 0,
		active   INTEGER NOT NULL DEFAULT 0
	);`,
	`ALTER TABLE chat_messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
	ALTER TABLE chat_messages ADD COLUMN duration_ms INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE chat_messages ADD COLUMN audio BLOB;`,
}

// Store is chat's part of the home's database: messages both ways and,
// per conversation, the next sequence number, the read receipt owed and
// the outbox's backoff. Each change is one transaction (WAL,
// synchronous=FULL): a message Send returned is on disk.
type Store struct {
	db   *sql.DB
	path string
	// shared: the handle belongs to whoever gave it (NewStore), who
	// closes it.
	shared bool
}

// OpenStore opens (creating, mode 0600) the database at path and migrates
// chat's tables.
func OpenStore(ctx context.Context, path string) (*Store, error) {
	db, err := sqlitefile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	s := &Store{db: db, path: path}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// NewStore migrates chat's tables in db, a handle on contacts.db the
// caller opened (the contact list's: one handle for the file) and closes
// after Close.
func NewStore(ctx context.Context, db *sql.DB) (*Store, error) {
	s := &Store{db: db, path: "contacts.db", shared: true}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Close closes the database (not a handle NewStore was given).
func (s *Store) Close() error {
	if s.shared {
		return nil
	}
	return s.db.Close()
}

func (s *Store) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS chat_meta (version INTEGER NOT NULL)`); err != nil {
			return err
		}
		var v int
		err := tx.QueryRowContext(ctx, `SELECT version FROM chat_meta`).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO chat_meta (version) VALUES (0)`); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if v > len(migrations) {
			return fmt.Errorf("chat tables of schema version %d, newer than this peercall knows (%d); run a newer peercall", v, len(migrations))
		}
		for ; v < len(migrations); v++ {
			if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migrate to chat schema version %d: %w", v+1, err)
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE chat_meta SET version = ?`, len(migrations))
		return err
	})
}

func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("chat: write %s: %w", s.path, err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("chat: write %s: %w", s.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("chat: commit to %s: %w", s.path, err)
	}
	return nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMs(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func ensurePeer(ctx context.Context, tx *sql.Tx, username string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO chat_peers (username) VALUES (?) ON CONFLICT DO NOTHING`, username)
	return err
}

// queue stores an outgoing message to peer with the conversation's next
// sequence number and a sending time no earlier than the previous
// message's (so that the history keeps the order sent).
func (s *Store) queue(ctx context.Context, peer, id, text string, now time.Time, expires time.Time) (Message, error) {
	return s.queueKind(ctx, peer, id, text, nil, 0, now, expires)
}

func (s *Store) queueKind(ctx context.Context, peer, id, text string, audio []byte, durMs int64, now time.Time, expires time.Time) (Message, error) {
	m := Message{ID: id, Peer: peer, Dir: Out, Text: text, State: StateQueued, Kind: KindText, DurationMs: durMs}
	if audio != nil {
		m.Kind = KindVoice
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := ensurePeer(ctx, tx, peer); err != nil {
			return err
		}
		var seq uint64
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT next_seq, last_sent FROM chat_peers WHERE username = ?`, peer).Scan(&seq, &last); err != nil {
			return err
		}
		sent := max(ms(now), last)
		res, err := tx.ExecContext(ctx, `INSERT INTO chat_messages (msg_id, peer, dir, seq, sent, body, state, expires, kind, duration_ms, audio) VALUES (?, ?, 'out', ?, ?, ?, 'queued', ?, ?, ?, ?)`,
			id, peer, seq, sent, text, ms(expires), m.Kind, durMs, audio)
		if err != nil {
			return err
		}
		m.Local, _ = res.LastInsertId()
		m.Seq, m.Sent = seq, fromMs(sent)
		// A new message is tried at once, whatever the backoff.
		_, err = tx.ExecContext(ctx, `UPDATE chat_peers SET next_seq = ?, last_sent = ?, next_at = 0, attempts = 0, active = ? WHERE username = ?`, seq+1, sent, ms(now), peer)
		return err
	})
	return m, err
}

// receive stores an incoming message; isNew is false for one already
// stored (a retry whose ack was lost).
func (s *Store) receive(ctx context.Context, peer string, f frame, now time.Time) (m Message, isNew bool, err error) {
	m = Message{ID: fmt.Sprintf("%x", f.ID), Peer: peer, Dir: In, Seq: f.Seq, Sent: fromMs(f.Sent), Received: now.UTC().Truncate(time.Millisecond), Text: f.Text, State: StateUnread, Kind: KindText}
	var audio []byte
	if f.Type == typeVoice {
		m.Kind, m.DurationMs, audio = KindVoice, int64(f.DurationMs), f.Audio
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := ensurePeer(ctx, tx, peer); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO chat_messages (msg_id, peer, dir, seq, sent, received, body, state, kind, duration_ms, audio) VALUES (?, ?, 'in', ?, ?, ?, ?, 'unread', ?, ?, ?) ON CONFLICT DO NOTHING`,
			m.ID, peer, f.Seq, f.Sent, ms(now), f.Text, m.Kind, m.DurationMs, audio)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		isNew = n == 1
		if isNew {
			m.Local, _ = res.LastInsertId()
			_, err = tx.ExecContext(ctx, `UPDATE chat_peers SET active = ? WHERE username = ?`, ms(now), peer)
		}
		return err
	})
	return m, isNew, err
}

const msgColumns = `local, msg_id, peer, dir, seq, sent, received, body, state, reason, kind, duration_ms`

func scanMessages(rows *sql.Rows) ([]Message, error) {
	defer rows.Close()
	out := []Message{}
	for rows.Next() {
		var m Message
		var sent, recv int64
		if err := rows.Scan(&m.Local, &m.ID, &m.Peer, &m.Dir, &m.Seq, &sent, &recv, &m.Text, &m.State, &m.Reason, &m.Kind, &m.DurationMs); err != nil {
			return nil, err
		}
		m.Sent, m.Received = fromMs(sent), fromMs(recv)
		out = append(out, m)
	}
	return out, rows.Err()
}

// outgoing returns peer's queued messages in order, at most limit.
func (s *Store) outgoing(ctx context.Context, peer string, limit int) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+msgColumns+` FROM chat_messages WHERE peer = ? AND dir = 'out' AND state = 'queued' ORDER BY seq LIMIT ?`, peer, limit)
	if err != nil {
		return nil, fmt.Errorf("chat: read the outbox: %w", err)
	}
	return scanMessages(rows)
}

// Audio returns voice message local's Ogg Opus file and the message.
func (s *Store) Audio(ctx context.Context, local int64) ([]byte, Message, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+msgColumns+` FROM chat_messages WHERE local = ? AND kind = 'voice'`, local)
	if err != nil {
		return nil, Message{}, fmt.Errorf("chat: read message %d: %w", local, err)
	}
	ms, err := scanMessages(rows)
	if err != nil {
		return nil, Message{}, err
	}
	if len(ms) == 0 {
		return nil, Message{}, fmt.Errorf("%w %d: `peercall inbox` lists the voice messages", ErrNoVoice, local)
	}
	var audio []byte
	if err := s.db.QueryRowContext(ctx, `SELECT audio FROM chat_messages WHERE local = ?`, local).Scan(&audio); err != nil {
		return nil, Message{}, err
	}
	return audio, ms[0], nil
}

// ErrNoVoice: no voice message has that number.
var ErrNoVoice = errors.New("no voice message")

// pending is a conversation the outbox has something for.
type pending struct {
	Peer     string
	PeerID   string
	ReadUpto uint64 // a read receipt owed (0: none)
	Attempts int
}

// pendingFor returns username's conversation when the outbox has
// something for it.
func (s *Store) pendingFor(ctx context.Context, username string) (pending, bool, error) {
	p := pending{Peer: username}
	err := s.db.QueryRowContext(ctx, `SELECT peer_id, CASE WHEN read_upto > read_sent THEN read_upto ELSE 0 END, attempts FROM chat_peers
		WHERE username = ? AND (read_upto > read_sent OR EXISTS (SELECT 1 FROM chat_messages WHERE peer = username AND dir = 'out' AND state = 'queued'))`, username).Scan(&p.PeerID, &p.ReadUpto, &p.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	return p, err == nil, err
}

// due returns the conversations with queued messages or an owed read
// receipt whose backoff has passed.
func (s *Store) due(ctx context.Context, now time.Time) ([]pending, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT username, peer_id, CASE WHEN read_upto > read_sent THEN read_upto ELSE 0 END, attempts FROM chat_peers
		WHERE next_at <= ? AND (read_upto > read_sent OR EXISTS (SELECT 1 FROM chat_messages WHERE peer = username AND dir = 'out' AND state = 'queued'))
		ORDER BY active DESC LIMIT 64`, ms(now))
	if err != nil {
		return nil, fmt.Errorf("chat: read the outbox: %w", err)
	}
	defer rows.Close()
	var out []pending
	for rows.Next() {
		var p pending
		if err := rows.Scan(&p.Peer, &p.PeerID, &p.ReadUpto, &p.Attempts); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// setState moves an outgoing message on (only forward: queued, delivered,
// read).
func (s *Store) setState(ctx context.Context, peer string, local int64, state, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE chat_messages SET state = ?, reason = ? WHERE local = ? AND peer = ? AND state = 'queued'`, state, reason, local, peer)
	return err
}

// delivered marks an outgoing message delivered.
func (s *Store) delivered(ctx context.Context, local int64, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE chat_messages SET state = 'delivered', received = ? WHERE local = ? AND state = 'queued'`, ms(now), local)
	return err
}

// readByPeer marks the outgoing messages to peer up to seq read, and
// returns how many changed.
func (s *Store) readByPeer(ctx context.Context, peer string, seq uint64) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE chat_messages SET state = 'read' WHERE peer = ? AND dir = 'out' AND seq <= ? AND state IN ('queued', 'delivered')`, peer, seq)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// retry records a failed pass at peer's conversation.
func (s *Store) retry(ctx context.Context, peer string, next time.Time, count bool) error {
	inc := 0
	if count {
		inc = 1
	}
	_, err := s.db.ExecContext(ctx, `UPDATE chat_peers SET attempts = attempts + ?, next_at = ? WHERE username = ?`, inc, ms(next), peer)
	return err
}

// passed records a pass that delivered everything it had.
func (s *Store) passed(ctx context.Context, peer string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE chat_peers SET attempts = 0, next_at = 0 WHERE username = ?`, peer)
	return err
}

// readSent records the read receipt delivered up to seq.
func (s *Store) readSent(ctx context.Context, peer string, seq uint64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE chat_peers SET read_sent = max(read_sent, ?) WHERE username = ?`, seq, peer)
	return err
}

// markRead marks peer's incoming messages read and owes them a read
// receipt up to the highest; it returns that sequence number (0: nothing
// new was read).
func (s *Store) markRead(ctx context.Context, peer string, now time.Time) (uint64, error) {
	var upto uint64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var m sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT max(seq) FROM chat_messages WHERE peer = ? AND dir = 'in' AND state = 'unread'`, peer).Scan(&m); err != nil {
			return err
		}
		if !m.Valid {
			return nil
		}
		upto = uint64(m.Int64)
		if _, err := tx.ExecContext(ctx, `UPDATE chat_messages SET state = 'read' WHERE peer = ? AND dir = 'in' AND state = 'unread'`, peer); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE chat_peers SET read_upto = max(read_upto, ?), next_at = 0, attempts = 0 WHERE username = ?`, upto, peer)
		return err
	})
	return upto, err
}

// expire marks queued messages past their time expired and returns them.
func (s *Store) expire(ctx context.Context, now time.Time) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, `UPDATE chat_messages SET state = 'expired', reason = 'not delivered in time' WHERE state = 'queued' AND expires > 0 AND expires <= ? RETURNING `+msgColumns, ms(now))
	if err != nil {
		return nil, fmt.Errorf("chat: expire the outbox: %w", err)
	}
	return scanMessages(rows)
}

// notePeer records username's node.
func (s *Store) notePeer(ctx context.Context, username, peerID string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO chat_peers (username, peer_id) VALUES (?, ?) ON CONFLICT (username) DO UPDATE SET peer_id = excluded.peer_id`, username, peerID)
	return err
}

// hurryPeer makes the conversations with node peerID due now; it returns
// whether there was any.
func (s *Store) hurryPeer(ctx context.Context, peerID string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE chat_peers SET next_at = 0 WHERE peer_id = ? AND next_at > 0`, peerID)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// peerID is the node username was last seen on ("" none).
func (s *Store) peerID(ctx context.Context, username string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT peer_id FROM chat_peers WHERE username = ?`, username).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// hurryUser makes username's conversation due now.
func (s *Store) hurryUser(ctx context.Context, username string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE chat_peers SET next_at = 0 WHERE username = ? AND next_at > 0`, username)
	return err
}

// recent returns the users chatted with since since, the latest first.
func (s *Store) recent(ctx context.Context, since time.Time, limit int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT username FROM chat_peers WHERE active >= ? ORDER BY active DESC LIMIT ?`, ms(since), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// Query selects messages of the history.
type Query struct {
	// Peer limits to one conversation ("" all).
	Peer string
	// Text keeps messages containing it (case-insensitive for ASCII).
	Text string
	// Unread keeps unread incoming messages only.
	Unread bool
	// Limit bounds the answer to the latest Limit (default 100, at most
	// 10,000).
	Limit int
}

// History returns the messages q selects, oldest first.
func (s *Store) History(ctx context.Context, q Query) ([]Message, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 10_000)
	where := []string{"1 = 1"}
	var args []any
	if q.Peer != "" {
		where = append(where, "peer = ?")
		args = append(args, q.Peer)
	}
	if q.Text != "" {
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q.Text)
		where = append(where, `body LIKE ? ESCAPE '\'`)
		args = append(args, "%"+esc+"%")
	}
	if q.Unread {
		where = append(where, "dir = 'in' AND state = 'unread'")
	}
	args = append(args, q.Limit)
	rows, err := s.db.QueryContext(ctx, `SELECT * FROM (SELECT `+msgColumns+` FROM chat_messages WHERE `+strings.Join(where, " AND ")+
		` ORDER BY sent DESC, dir DESC, seq DESC LIMIT ?) ORDER BY sent, dir, seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("chat: read the history: %w", err)
	}
	return scanMessages(rows)
}

// Conversation is one partner's conversation at a glance.
type Conversation struct {
	Peer   string    `json:"peer"`
	Last   time.Time `json:"last"`
	Unread int       `json:"unread"`
}

// Conversations lists the latest limit conversations, the most recent
// first.
func (s *Store) Conversations(ctx context.Context, limit int) ([]Conversation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT peer, max(sent), sum(dir = 'in' AND state = 'unread') FROM chat_messages
		GROUP BY peer ORDER BY max(sent) DESC LIMIT ?`, min(max(limit, 1), 1000))
	if err != nil {
		return nil, fmt.Errorf("chat: read the conversations: %w", err)
	}
	defer rows.Close()
	out := []Conversation{}
	for rows.Next() {
		var c Conversation
		var last int64
		if err := rows.Scan(&c.Peer, &last, &c.Unread); err != nil {
			return nil, err
		}
		c.Last = fromMs(last)
		out = append(out, c)
	}
	return out, rows.Err()
}
