package transfer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/peercall/peercall/internal/atomicfile"
	"github.com/peercall/peercall/internal/wire"
)

// Defaults of a Receiver.
const (
	defaultIdleTimeout = 30 * time.Second
	defaultSyncEvery   = 8 << 20
	// recvDepth is how many verified chunks wait for the writer.
	recvDepth        = 16
	defaultMaxActive = 8
	// supersedeWait bounds the wait for an earlier stream of the same
	// transfer to give way to a new one.
	supersedeWait = 10 * time.Second
)

// Blocker says whether a user is blocked (the contacts' block list).
type Blocker interface{ Blocked(user string) bool }

// BlockerFunc is a Blocker.
type BlockerFunc func(user string) bool

// Blocked calls f.
func (f BlockerFunc) Blocked(user string) bool { return f(user) }

// NobodyBlocked blocks nobody.
type NobodyBlocked struct{}

// Blocked is always false.
func (NobodyBlocked) Blocked(string) bool { return false }

// Incoming is an offer the receiver's user (or the auto-accept list)
// decides on.
type Incoming struct {
	ID   string // hex
	User string // the sender's certified username
	Name string // sanitised
	Size int64
}

// Event is the progress of one transfer, on either side.
type Event struct {
	ID     string `json:"id"`
	Peer   string `json:"peer"` // the other side's username
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Bytes  int64  `json:"bytes"` // verified (receiver) or sent (sender) so far
	State  string `json:"state"` // offered, accepted, refused, progress, released, quarantined, failed, interrupted
	Reason string `json:"reason,omitempty"`
	// Code names a refusal's reason for metrics: certificate, blocked,
	// name, busy, storage, quarantined, declined, or the rule
	// (transfer.enabled, transfer.max_file_size, transfer.allowed_extensions,
	// transfer.blocked_extensions).
	Code string `json:"code,omitempty"`
}

// ReceiverConfig configures a Receiver.
type ReceiverConfig struct {
	// Quarantine holds files being received and files a scan kept
	// (created 0700).
	Quarantine string
	// Downloads is where released files go (created 0700).
	Downloads string
	// Rules are the node's effective rules (Effective), read per offer.
	Rules func() Rules
	// Identify checks the offer's certificate against the stream's
	// authenticated peer and returns the certified username.
	Identify func(remotePeer string, cert []byte) (string, error)
	// Blocker refuses blocked senders (nil: nobody blocked).
	Blocker Blocker
	// Accept decides on a new offer (nil error: accept). It may block
	// until the user decides; ctx ends with the stream. nil accepts
	// everything the rules allow.
	Accept func(ctx context.Context, in Incoming) error
	// OnEvent receives progress (nil: none).
	OnEvent func(Event)
	// IdleTimeout bounds the wait for each message (default 30 s).
	IdleTimeout time.Duration
	// SyncEvery: the received bytes are made durable (fsync, then the
	// state) this often (default 8 MiB), so a kill -9 loses at most that.
	SyncEvery int64
	// MaxActive bounds concurrent transfers (default 8).
	MaxActive int
	Logger    *slog.Logger
}

// Receiver takes files offered over incoming streams.
type Receiver struct {
	cfg ReceiverConfig
	log *slog.Logger

	mu     sync.Mutex
	active map[string]*activeTransfer
	// reserved is what each transfer under way may still write.
	reserved map[string]int64
}

type activeTransfer struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// NewReceiver makes the folders and returns a receiver.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	for _, d := range []string{cfg.Quarantine, cfg.Downloads} {
		if d == "" {
			return nil, errors.New("transfer: the quarantine and downloads folders must be given")
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("transfer: create %s: %w", d, err)
		}
	}
	if cfg.Rules == nil || cfg.Identify == nil {
		return nil, errors.New("transfer: Rules and Identify must be given")
	}
	if cfg.Blocker == nil {
		cfg.Blocker = NobodyBlocked{}
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	if cfg.SyncEvery <= 0 {
		cfg.SyncEvery = defaultSyncEvery
	}
	if cfg.MaxActive <= 0 {
		cfg.MaxActive = defaultMaxActive
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Receiver{cfg: cfg, log: log, active: map[string]*activeTransfer{}, reserved: map[string]int64{}}, nil
}

// recvState is the durable state of one transfer, beside its .part file.
type recvState struct {
	User string `json:"user"`
	ID   string `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	// Offset is how many bytes of the .part file are verified and synced.
	Offset int64 `json:"offset"`
	// Quarantined is set when the file is complete but kept (scan).
	Quarantined string `json:"quarantined,omitempty"`
}

type deadliner interface{ SetReadDeadline(time.Time) error }

// Stream is what a transfer runs over (a libp2p stream, a TCP connection).
type Stream = io.ReadWriteCloser

func (r *Receiver) emit(e Event) {
	if r.cfg.OnEvent != nil {
		r.cfg.OnEvent(e)
	}
}

// Handle serves one incoming stream from remotePeer (its authenticated
// peer ID) and closes it.
func (r *Receiver) Handle(ctx context.Context, remotePeer string, s Stream) error {
	defer s.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	// A small buffer: a frame's header and the start of its body come
	// through it, the rest of the body (ReadFull once the buffer is empty)
	// straight into the frame, without a copy.
	br := bufio.NewReaderSize(s, 4<<10)
	read := func(buf []byte) (Message, error) {
		if d, ok := s.(deadliner); ok {
			_ = d.SetReadDeadline(time.Now().Add(r.cfg.IdleTimeout))
		}
		b, err := wire.ReadFrameInto(br, buf, maxFrame, ErrMalformed)
		if err != nil {
			return Message{}, err
		}
		return Decode(b)
	}
	refuse := func(ev Event, code string, err error) error {
		ev.State, ev.Reason, ev.Code = "refused", err.Error(), code
		r.emit(ev)
		_ = writeMsg(s, Refuse{Reason: err.Error()}.Marshal())
		return err
	}
	if d, ok := s.(deadliner); ok {
		_ = d.SetReadDeadline(time.Now().Add(r.cfg.IdleTimeout))
	}
	var refused error
	o, user, err := wire.Opening[*Offer]{What: "file offer", Max: maxFrame, Malformed: ErrMalformed, Logger: r.log,
		Decode: decodeOffer, Cert: func(o *Offer) []byte { return o.Cert },
		Verify: func(cert []byte) (string, error) { return r.cfg.Identify(remotePeer, cert) },
		Refuse: func(err error) { refused = refuse(Event{}, "certificate", fmt.Errorf("%w: %w", ErrRefused, err)) },
	}.Read(s, br, stringer(remotePeer))
	if refused != nil {
		return refused
	}
	if err != nil {
		return fmt.Errorf("read offer: %w", err)
	}
	ev := Event{ID: hex.EncodeToString(o.ID[:]), Peer: user, Size: int64(o.Size)}
	if r.cfg.Blocker.Blocked(user) {
		return refuse(ev, "blocked", fmt.Errorf("%w: %s is blocked by the recipient", ErrRefused, user))
	}
	name, changed, err := SanitizeName(o.Name)
	if err != nil {
		return refuse(ev, "name", fmt.Errorf("%w: %w", ErrRefused, err))
	}
	ev.Name = name
	if changed {
		r.log.Info("incoming file renamed", "from", clip(string(o.Name)), "to", name, "user", user)
	}
	if err := r.cfg.Rules().Check(name, int64(o.Size)); err != nil {
		return refuse(ev, RuleOf(err), err)
	}
	key := stateKey(user, o.ID)
	release, err := r.claim(ctx, key, cancel)
	if err != nil {
		return refuse(ev, "busy", err)
	}
	defer release()
	st, err := r.loadState(key)
	if err != nil {
		return refuse(ev, "storage", fmt.Errorf("%w: the recipient cannot read its state of this transfer: %w", ErrRefused, err))
	}
	if st != nil && (st.User != user || st.Size != int64(o.Size) || st.ID != ev.ID) {
		st = nil // another file under the same id: start over
	}
	if st != nil && st.Quarantined != "" {
		return refuse(ev, "quarantined", fmt.Errorf("%w: %s was received before and is kept in quarantine: %s", ErrRefused, name, st.Quarantined))
	}
	if st == nil {
		r.emit(Event{ID: ev.ID, Peer: user, Name: name, Size: ev.Size, State: "offered"})
		if r.cfg.Accept != nil {
			if err := r.cfg.Accept(ctx, Incoming{ID: ev.ID, User: user, Name: name, Size: int64(o.Size)}); err != nil {
				return refuse(ev, "declined", fmt.Errorf("%w: %w", ErrRefused, err))
			}
		}
		st = &recvState{User: user, ID: ev.ID, Name: name, Size: int64(o.Size)}
	}
	unreserve, err := r.reserve(key, name, st)
	if err != nil {
		return refuse(ev, "transfer.max_quarantine", err)
	}
	defer unreserve()
	f, h, err := r.openPart(key, st)
	if err != nil {
		return refuse(ev, "storage", fmt.Errorf("%w: the recipient cannot store the file: %w", ErrRefused, err))
	}
	defer f.Close()
	if err := r.saveState(key, st); err != nil {
		return refuse(ev, "storage", fmt.Errorf("%w: the recipient cannot store the file: %w", ErrRefused, err))
	}
	if err := writeMsg(s, Accept{Offset: uint64(st.Offset)}.Marshal()); err != nil {
		return err
	}
	ev.Bytes, ev.State = st.Offset, "accepted"
	r.emit(ev)
	root, err := r.receive(read, f, h, key, st, ev)
	if err != nil {
		ev.Bytes, ev.State, ev.Reason = st.Offset, "interrupted", err.Error()
		r.emit(ev)
		return err
	}
	res := r.finish(ctx, h, root, key, st)
	ev.Bytes, ev.State, ev.Reason = st.Size, res.Status.String(), res.Reason
	if res.Status == StatusReleased {
		ev.Name = res.Name
	}
	r.emit(ev)
	if err := writeMsg(s, res.Marshal()); err != nil {
		return fmt.Errorf("tell the sender the result: %w", err)
	}
	return nil
}

// receive reads chunks until DONE, checks each, and hands it to a writer
// goroutine that writes it to f at st.Offset and adds it to h (the whole
// file's hash so far); the written bytes are made durable in the
// background every SyncEvery bytes. Reading, writing and syncing overlap.
func (r *Receiver) receive(read func(buf []byte) (Message, error), f *os.File, h hash.Hash, key string, st *recvState, ev Event) (root [32]byte, _ error) {
	base := *st // what a sync saves, but for the offset
	sy := &syncer{f: f, save: func(off int64) error {
		cp := base
		cp.Offset = off
		return r.saveState(key, &cp)
	}}
	type verified struct {
		data, buf []byte
		sum       [32]byte
	}
	// Frames are reused: a ring of recvDepth+1 buffers, one being read and
	// the others waiting for the writer.
	chunks := make(chan verified, recvDepth)
	free := make(chan []byte, recvDepth+1)
	for range recvDepth + 1 {
		free <- make([]byte, maxFrame)
	}
	var werr error
	wdone := make(chan struct{})
	go func() { // owned by receive, which waits for it below
		defer close(wdone)
		var unsynced int64
		for c := range chunks {
			if werr != nil {
				free <- c.buf
				continue // drain
			}
			_, err := f.Write(c.data) // straight from the frame: no copy through a buffer
			free <- c.buf
			if err != nil {
				werr = fmt.Errorf("write %s: %w (is the disk full?)", f.Name(), err)
				continue
			}
			h.Write(c.sum[:])
			st.Offset += int64(len(c.data))
			unsynced += int64(len(c.data))
			if unsynced >= r.cfg.SyncEvery {
				if err := sy.err(); err != nil {
					werr = fmt.Errorf("sync %s: %w", f.Name(), err)
				} else if sy.kick(st.Offset) {
					unsynced = 0
					e := ev
					e.Bytes, e.State = st.Offset, "progress"
					r.emit(e)
				}
			}
		}
		// What was written is made durable whatever ended the stream.
		if err := sy.final(st.Offset); err != nil && werr == nil {
			werr = fmt.Errorf("sync %s: %w", f.Name(), err)
		}
	}()
	next := st.Offset
	rerr := func() error {
		defer close(chunks)
		for {
			buf := <-free
			m, err := read(buf)
			if err != nil {
				return fmt.Errorf("read chunk: %w", err)
			}
			if m.Done != nil {
				root = m.Done.SHA256
				if next != st.Size {
					return fmt.Errorf("sender finished at %d of %d bytes: %w", next, st.Size, ErrMalformed)
				}
				return nil
			}
			c := m.Chunk
			if c == nil {
				return fmt.Errorf("unexpected message during the file: %w", ErrMalformed)
			}
			want := min(int64(ChunkSize), st.Size-next)
			if int64(c.Offset) != next || int64(len(c.Data)) != want {
				return fmt.Errorf("chunk at %d of %d bytes, want %d at %d: %w", c.Offset, len(c.Data), want, next, ErrMalformed)
			}
			sum := sha256.Sum256(c.Data)
			if sum != c.SHA256 {
				return fmt.Errorf("chunk at %d fails its SHA-256 (the transfer resumes from there): %w", c.Offset, ErrMalformed)
			}
			next += want
			chunks <- verified{c.Data, buf, sum}
		}
	}()
	<-wdone
	if rerr != nil {
		return root, rerr
	}
	return root, werr
}

// syncer makes a file's written bytes durable (fsync, then the state that
// counts them) on a goroutine of its own, one sync at a time.
type syncer struct {
	f    *os.File
	save func(offset int64) error
	mu   sync.Mutex
	busy chan struct{} // closed when the running sync ends (nil: none)
	fail error
}

// kick starts a sync of everything written up to offset, unless one runs.
func (s *syncer) kick(offset int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy != nil {
		select {
		case <-s.busy:
		default:
			return false
		}
	}
	done := make(chan struct{})
	s.busy = done
	go func() {
		defer close(done)
		err := s.f.Sync()
		if err == nil {
			err = s.save(offset)
		}
		if err != nil {
			s.mu.Lock()
			s.fail = err
			s.mu.Unlock()
		}
	}()
	return true
}

func (s *syncer) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fail
}

// wait waits for the running sync.
func (s *syncer) wait() {
	s.mu.Lock()
	busy := s.busy
	s.mu.Unlock()
	if busy != nil {
		<-busy
	}
}

// final waits for the running sync and syncs up to offset.
func (s *syncer) final(offset int64) error {
	s.wait()
	if err := s.err(); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	return s.save(offset)
}

// finish checks the whole file's hash, scans it and releases or keeps it.
func (r *Receiver) finish(ctx context.Context, h hash.Hash, root [32]byte, key string, st *recvState) Result {
	part := r.partPath(key)
	if !bytes.Equal(h.Sum(nil), root[:]) {
		r.forget(key)
		return Result{Status: StatusFailed, Reason: "the file's SHA-256 does not match the sender's: it was deleted; send it again"}
	}
	rules := r.cfg.Rules()
	if err := Scan(ctx, rules.Scan, part, rules.ScanTimeout); err != nil {
		st.Quarantined = err.Error()
		if serr := r.saveState(key, st); serr != nil {
			r.log.Warn("cannot record a quarantined file", "file", part, "err", serr)
		}
		r.log.Warn("received file kept in quarantine", "file", part, "name", st.Name, "user", st.User, "reason", err)
		return Result{Status: StatusQuarantined, Reason: fmt.Sprintf("%s is kept in the recipient's quarantine: %v", st.Name, err)}
	}
	name, err := r.release(part, st.Name)
	if err != nil {
		st.Quarantined = err.Error()
		_ = r.saveState(key, st)
		return Result{Status: StatusQuarantined, Reason: fmt.Sprintf("%s could not be released and stays in quarantine: %v", st.Name, err)}
	}
	_ = os.Remove(r.statePath(key))
	return Result{Status: StatusReleased, Name: name}
}

// release links part into Downloads under name, or under "name (n).ext"
// when that exists: never over an existing file.
func (r *Receiver) release(part, name string) (string, error) {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for i := 0; i < 1000; i++ {
		cand := name
		if i > 0 {
			cand = fmt.Sprintf("%s (%d)%s", stem, i, ext)
		}
		dst := filepath.Join(r.cfg.Downloads, cand)
		err := os.Link(part, dst)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("release to %s: %w", dst, err)
		}
		_ = os.Remove(part)
		return cand, nil
	}
	return "", fmt.Errorf("release %s: 1000 files of that name in %s already", name, r.cfg.Downloads)
}

// claim makes this stream the one serving key: an earlier stream of the
// same transfer (a connection that died unnoticed) is ended first.
// reserve counts what st still needs against transfer.max_quarantine: the
// files in the quarantine folder and what the transfers under way may
// still write. The reservation ends with the transfer.
func (r *Receiver) reserve(key, name string, st *recvState) (func(), error) {
	rules := r.cfg.Rules()
	r.mu.Lock()
	defer r.mu.Unlock()
	used := quarantineSize(r.cfg.Quarantine)
	for _, n := range r.reserved {
		used += n
	}
	need := st.Size - st.Offset
	if rules.MaxQuarantine > 0 && used+need > rules.MaxQuarantine {
		return nil, refusedBy("transfer.max_quarantine", "the recipient's quarantine holds %d bytes and %q needs %d more, over its limit of %d (transfer.max_quarantine in %s); they must clear quarantine/ first",
			used, name, need, rules.MaxQuarantine, rules.Source["max_quarantine"])
	}
	r.reserved[key] = need
	return func() {
		r.mu.Lock()
		delete(r.reserved, key)
		r.mu.Unlock()
	}, nil
}

// quarantineSize is the bytes of the files in dir.
func quarantineSize(dir string) int64 {
	var n int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
	}
	return n
}

func (r *Receiver) claim(ctx context.Context, key string, cancel context.CancelFunc) (func(), error) {
	for {
		r.mu.Lock()
		old := r.active[key]
		if old == nil {
			if len(r.active) >= r.cfg.MaxActive {
				r.mu.Unlock()
				return nil, fmt.Errorf("%w: the recipient is receiving %d files already; try again later", ErrRefused, len(r.active))
			}
			a := &activeTransfer{cancel: cancel, done: make(chan struct{})}
			r.active[key] = a
			r.mu.Unlock()
			return func() {
				r.mu.Lock()
				delete(r.active, key)
				r.mu.Unlock()
				close(a.done)
			}, nil
		}
		r.mu.Unlock()
		old.cancel()
		select {
		case <-old.done:
		case <-time.After(supersedeWait):
			return nil, fmt.Errorf("%w: an earlier attempt of this transfer is still running; try again", ErrRefused)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func stateKey(user string, id [IDSize]byte) string {
	h := sha256.Sum256(append([]byte(user+"\x00"), id[:]...))
	return hex.EncodeToString(h[:16])
}

func (r *Receiver) partPath(key string) string  { return filepath.Join(r.cfg.Quarantine, key+".part") }
func (r *Receiver) statePath(key string) string { return filepath.Join(r.cfg.Quarantine, key+".json") }

// maxStateFile bounds a state file read.
const maxStateFile = 16 << 10

func (r *Receiver) loadState(key string) (*recvState, error) {
	data, err := os.ReadFile(r.statePath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st recvState
	if len(data) > maxStateFile || json.Unmarshal(data, &st) != nil || st.Offset < 0 || st.Offset > st.Size {
		r.log.Warn("transfer state unreadable; starting that transfer over", "file", r.statePath(key))
		return nil, nil
	}
	return &st, nil
}

func (r *Receiver) saveState(key string, st *recvState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(r.statePath(key), data, 0o600)
}

func (r *Receiver) forget(key string) {
	_ = os.Remove(r.partPath(key))
	_ = os.Remove(r.statePath(key))
}

// openPart opens key's .part file positioned at st.Offset, cut to it (bytes
// after the last synced state are not trusted), and hashes what it keeps.
// A file shorter than the state (lost in a crash) moves the offset back to
// a chunk boundary.
func (r *Receiver) openPart(key string, st *recvState) (*os.File, hash.Hash, error) {
	f, err := os.OpenFile(r.partPath(key), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*os.File, hash.Hash, error) {
		f.Close()
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	if fi.Size() < st.Offset {
		st.Offset = fi.Size() / ChunkSize * ChunkSize
	}
	if err := f.Truncate(st.Offset); err != nil {
		return fail(err)
	}
	h := sha256.New() // the hash list (FileHash) of what is kept
	_, sums, err := FileHash(io.NewSectionReader(f, 0, st.Offset))
	if err != nil {
		return fail(fmt.Errorf("read back %s: %w", f.Name(), err))
	}
	for _, sum := range sums {
		h.Write(sum[:])
	}
	if _, err := f.Seek(st.Offset, io.SeekStart); err != nil {
		return fail(err)
	}
	return f, h, nil
}

// stringer names a peer in logs.
type stringer string

func (s stringer) String() string { return string(s) }
