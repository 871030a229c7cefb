package transfer

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Defaults of a send.
const (
	defaultAttempts      = 5
	defaultAcceptTimeout = 5 * time.Minute
	maxRetryWait         = 10 * time.Second
	// resultMargin is added to the receiver's scan time when waiting for
	// its verdict.
	resultMargin = 2 * time.Minute
	// saveSentEvery: the sender records how far it got this often, to
	// report the bytes sent again after its own restart (a plain write:
	// a torn record after a crash only loses the report).
	saveSentEvery = 1 << 20
	// sendDepth is how many chunks the sender reads and hashes ahead.
	sendDepth = 4
)

// ErrInterrupted: the stream broke more often than the send retries.
var ErrInterrupted = errors.New("the transfer was interrupted")

// SendConfig configures one send.
type SendConfig struct {
	// Dial opens a stream to the recipient (a new one per attempt).
	Dial func(ctx context.Context) (Stream, error)
	// Cert is this node's certificate, carried in the offer.
	Cert []byte
	// Rules are this node's rules: a file they refuse never leaves.
	Rules Rules
	// StateDir keeps how far each transfer got (to report bytes sent
	// again after a restart); "" keeps nothing.
	StateDir string
	// Name is the name offered (default: the file's base name).
	Name string
	// Attempts bounds the streams tried (default 5); a refusal ends at once.
	Attempts int
	// RetryWait is the first wait between attempts (default 1 s, doubling
	// up to 10 s).
	RetryWait time.Duration
	// AcceptTimeout bounds the wait for the recipient's decision (default
	// 5 min) and IdleTimeout each write (default 30 s).
	AcceptTimeout, IdleTimeout time.Duration
	// OnEvent receives progress (nil: none).
	OnEvent func(Event)
}

// Report is what a send did.
type Report struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	// ResumedFrom is the offset of the last attempt's accept: what the
	// recipient already had.
	ResumedFrom int64 `json:"resumed_from"`
	// Sent counts file bytes written by this send, every attempt together.
	Sent int64 `json:"sent"`
	// Resent counts bytes sent before (by this or an earlier send) that
	// the recipient had lost and took again.
	Resent   int64  `json:"resent"`
	Attempts int    `json:"attempts"`
	Result   Result `json:"result"`
}

// RefusedError is a refusal by the recipient, with its reason.
type RefusedError struct {
	Reason string
	// Quarantined: the file arrived whole but the recipient's scan kept
	// it.
	Quarantined bool
}

func (e *RefusedError) Error() string {
	if e.Quarantined {
		return "the file arrived but the recipient did not release it: " + e.Reason
	}
	return "the recipient refused the file: " + e.Reason
}

// Unwrap makes errors.Is(err, ErrRefused) hold.
func (e *RefusedError) Unwrap() error { return ErrRefused }

type sendState struct {
	Sent int64 `json:"sent"` // the highest offset ever sent
}

// TransferID is the id of sending a file: the same file (size and
// modification time) under the same name gets the same id, so a new send
// resumes an old one. A file changed in between fails the whole-file hash
// at the end and is sent again from the start.
func TransferID(size int64, modified time.Time, name string) [IDSize]byte {
	h := sha256.New()
	fmt.Fprintf(h, "peercall/file/1\x00%d\x00%d\x00%s", size, modified.UnixNano(), name)
	var id [IDSize]byte
	copy(id[:], h.Sum(nil))
	return id
}

// Send offers the file at path and sends it, resuming where the recipient
// is, retrying broken streams up to cfg.Attempts times.
func Send(ctx context.Context, cfg SendConfig, path string) (Report, error) {
	if cfg.Attempts <= 0 {
		cfg.Attempts = defaultAttempts
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = time.Second
	}
	if cfg.AcceptTimeout <= 0 {
		cfg.AcceptTimeout = defaultAcceptTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	f, err := os.Open(path)
	if err != nil {
		return Report{}, fmt.Errorf("open the file to send: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Report{}, err
	}
	if !fi.Mode().IsRegular() {
		return Report{}, fmt.Errorf("%s is not a regular file: send a file", path)
	}
	name := cfg.Name
	if name == "" {
		name = filepath.Base(path)
	}
	if err := cfg.Rules.Check(name, fi.Size()); err != nil {
		return Report{}, fmt.Errorf("%w (on this machine, nothing was sent)", err)
	}
	id := TransferID(fi.Size(), fi.ModTime(), name)
	rep := Report{ID: hex.EncodeToString(id[:]), Name: name, Size: fi.Size()}
	s := &sender{cfg: cfg, f: f, rep: &rep, offer: Offer{ID: id, Size: uint64(fi.Size()), Cert: cfg.Cert, Name: []byte(name)}}
	s.loadState()
	wait := cfg.RetryWait
	for {
		rep.Attempts++
		err := s.attempt(ctx)
		if err == nil {
			return rep, nil
		}
		var refused *RefusedError
		if errors.As(err, &refused) || ctx.Err() != nil || rep.Attempts >= cfg.Attempts {
			if !errors.As(err, &refused) && ctx.Err() == nil {
				err = fmt.Errorf("%w after %d attempts: %w (send it again to resume)", ErrInterrupted, rep.Attempts, err)
			}
			return rep, err
		}
		s.emit("interrupted", err.Error())
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return rep, ctx.Err()
		}
		wait = min(2*wait, maxRetryWait)
	}
}

type sender struct {
	cfg   SendConfig
	f     *os.File
	rep   *Report
	offer Offer
	sums  [][32]byte // each chunk's SHA-256 so far (FileHash's list)
	state sendState
	saved int64
	pos   int64
}

func (s *sender) emit(state, reason string) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(Event{ID: s.rep.ID, Name: s.rep.Name, Size: s.rep.Size, Bytes: s.pos, State: state, Reason: reason})
	}
}

func (s *sender) statePath() string {
	if s.cfg.StateDir == "" {
		return ""
	}
	return filepath.Join(s.cfg.StateDir, s.rep.ID+".json")
}

func (s *sender) loadState() {
	if p := s.statePath(); p != "" {
		if data, err := os.ReadFile(p); err == nil && len(data) < maxStateFile {
			_ = json.Unmarshal(data, &s.state)
		}
	}
	s.saved = s.state.Sent
}

func (s *sender) saveState(force bool) {
	p := s.statePath()
	if p == "" || (!force && s.state.Sent-s.saved < saveSentEvery) {
		return
	}
	if err := os.MkdirAll(s.cfg.StateDir, 0o700); err != nil {
		return
	}
	data, _ := json.Marshal(s.state)
	if os.WriteFile(p, data, 0o600) == nil {
		s.saved = s.state.Sent
	}
}

// hashUpTo computes the chunk hashes of the file's first off bytes that
// this send has not sent itself (what the recipient had already).
func (s *sender) hashUpTo(off int64) error {
	have := int64(len(s.sums)) * ChunkSize
	if have >= off {
		return nil
	}
	_, sums, err := FileHash(bufio.NewReaderSize(io.NewSectionReader(s.f, have, off-have), 1<<20))
	if err != nil {
		return fmt.Errorf("read the file's first %d bytes: %w", off, err)
	}
	s.sums = append(s.sums, sums...)
	return nil
}

func setDeadline(st Stream, d time.Duration) {
	if dl, ok := st.(interface{ SetDeadline(time.Time) error }); ok {
		_ = dl.SetDeadline(time.Now().Add(d))
	}
}

// attempt is one stream: offer, the chunks from the accepted offset, the
// result.
func (s *sender) attempt(ctx context.Context) error {
	st, err := s.cfg.Dial(ctx)
	if err != nil {
		return fmt.Errorf("reach the recipient: %w", err)
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	setDeadline(st, s.cfg.IdleTimeout)
	if err := writeMsg(st, s.offer.Marshal()); err != nil {
		return fmt.Errorf("send the offer: %w", err)
	}
	s.emit("offered", "")
	setDeadline(st, s.cfg.AcceptTimeout)
	m, err := readMsg(st)
	if err != nil {
		return fmt.Errorf("wait for the recipient to accept: %w", err)
	}
	switch {
	case m.Refuse != nil:
		s.emit("refused", m.Refuse.Reason)
		return &RefusedError{Reason: m.Refuse.Reason}
	case m.Accept == nil:
		return fmt.Errorf("the recipient answered the offer with something else: %w", ErrMalformed)
	}
	off := int64(m.Accept.Offset)
	if off > s.rep.Size || off%ChunkSize != 0 && off != s.rep.Size {
		return fmt.Errorf("the recipient asked to resume at %d of %d: %w", off, s.rep.Size, ErrMalformed)
	}
	s.rep.ResumedFrom = off
	if s.state.Sent > off {
		s.rep.Resent += s.state.Sent - off
	}
	s.pos = off
	s.emit("accepted", "")
	if err := s.hashUpTo(off); err != nil {
		return err
	}
	// A reader goroutine reads and hashes the next chunks while this one
	// writes: hashing overlaps the network. Frames are reused (a ring of
	// sendDepth+1: one being written, the others read ahead).
	type ready struct {
		frame []byte
		sum   [32]byte
		n     int
		err   error
	}
	full := make(chan ready, sendDepth)
	free := make(chan []byte, sendDepth+1)
	for range sendDepth + 1 {
		free <- make([]byte, chunkFrameHeader+ChunkSize)
	}
	rctx, stopReading := context.WithCancel(ctx)
	var reading sync.WaitGroup
	defer reading.Wait()
	defer stopReading()
	reading.Go(func() { // owned by attempt, which waits for it
		defer close(full)
		for pos := s.pos; pos < s.rep.Size; {
			var frame []byte
			select {
			case frame = <-free:
			case <-rctx.Done():
				return
			}
			// Straight into the frame: no copy through a buffer.
			n, err := s.f.ReadAt(frame[chunkFrameHeader:chunkFrameHeader+min(int64(ChunkSize), s.rep.Size-pos)], pos)
			r := ready{frame: frame, n: n, err: err}
			if err == nil {
				r.sum = sha256.Sum256(frame[chunkFrameHeader : chunkFrameHeader+n])
			}
			full <- r // buffered: sendDepth+1 frames, sendDepth slots
			if err != nil {
				return
			}
			pos += int64(n)
		}
	})
	lastEvent := time.Now()
	for s.pos < s.rep.Size {
		c, ok := <-full
		if !ok {
			return ctx.Err()
		}
		if c.err != nil {
			return fmt.Errorf("read the file at %d: %w (did it change while sending?)", s.pos, c.err)
		}
		n, sum := c.n, c.sum
		setDeadline(st, s.cfg.IdleTimeout)
		if i := int(s.pos / ChunkSize); i < len(s.sums) {
			s.sums[i] = sum
		} else {
			s.sums = append(s.sums, sum)
		}
		if _, err := st.Write(chunkFrame(c.frame, uint64(s.pos), n, sum)); err != nil {
			s.saveState(true)
			return fmt.Errorf("send the chunk at %d: %w", s.pos, err)
		}
		free <- c.frame
		s.pos += int64(n)
		s.rep.Sent += int64(n)
		s.state.Sent = max(s.state.Sent, s.pos)
		s.saveState(false)
		if time.Since(lastEvent) > 200*time.Millisecond {
			s.emit("progress", "")
			lastEvent = time.Now()
		}
	}
	s.saveState(true)
	root := sha256.New()
	for _, sum := range s.sums {
		root.Write(sum[:])
	}
	var done Done
	copy(done.SHA256[:], root.Sum(nil))
	if err := writeMsg(st, done.Marshal()); err != nil {
		return fmt.Errorf("send the end of the file: %w", err)
	}
	s.emit("progress", "")
	setDeadline(st, maxScanTimeout+resultMargin) // the recipient's scan decides
	m, err = readMsg(st)
	if err != nil {
		return fmt.Errorf("wait for the recipient's verdict: %w", err)
	}
	if m.Result == nil {
		return fmt.Errorf("the recipient ended with something else than a result: %w", ErrMalformed)
	}
	s.rep.Result = *m.Result
	s.emit(m.Result.Status.String(), m.Result.Reason)
	if p := s.statePath(); p != "" {
		_ = os.Remove(p)
	}
	if m.Result.Status != StatusReleased {
		return &RefusedError{Reason: m.Result.Reason, Quarantined: m.Result.Status == StatusQuarantined}
	}
	return nil
}
