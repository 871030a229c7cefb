package signalling

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Errors of the Manager.
var (
	// ErrClosed: the Manager is closed.
	ErrClosed = errors.New("signalling: call manager is closed")
	// ErrTooManyCalls: placing a call would exceed Config.MaxCalls; hang up
	// a call first.
	ErrTooManyCalls = errors.New("signalling: already in the maximum number of calls; hang up one first")
	// ErrAlreadyInCall: there is already a call with that peer.
	ErrAlreadyInCall = errors.New("signalling: already in a call with this peer; hang it up first")
	// ErrRefused: an incoming call was refused (busy, glare, bad
	// certificate, bad INVITE); the error says which.
	ErrRefused = errors.New("signalling: incoming call refused")
)

// Config configures a Manager. Zero durations and sizes take the defaults.
type Config struct {
	// LocalPeer is this node's peer ID; it breaks glare ties.
	LocalPeer string
	// MaxCalls is how many calls may go on at once (inviting, ringing or
	// active); one more INVITE is answered BUSY. Default 1.
	MaxCalls int
	// RingTimeout ends a call nobody answered. Default 30 s.
	RingTimeout time.Duration
	// MediaTimeout ends an accepted call whose media was not reported up
	// (Call.MediaConnected) in time. Default 20 s.
	MediaTimeout time.Duration
	// InviteTimeout bounds the wait for the INVITE on an incoming stream.
	// Default 10 s.
	InviteTimeout time.Duration
	// WriteTimeout bounds each message write. Default 10 s.
	WriteTimeout time.Duration
	// ResumeHold is how long an active call whose stream broke waits for
	// the peer's RESUME before it ends (resume.go). Default 5 s.
	ResumeHold time.Duration
	// MaxMessageSize bounds messages both ways. Default and maximum
	// MaxMessageSize.
	MaxMessageSize int
	// Dial opens a signalling stream to peer (ProtocolID over libp2p in the
	// node). Needed to place calls.
	Dial func(ctx context.Context, peer string) (io.ReadWriteCloser, error)
	// CertificateCheck verifies the caller's certificate from an INVITE and
	// that it names remotePeer, the stream's authenticated remote peer; it
	// returns the certified username. A call whose check fails is answered
	// REJECT (bad certificate) and never rings. Required.
	CertificateCheck func(remotePeer string, cert []byte) (username string, err error)
	// Rand is the source of call IDs. Default crypto/rand.
	Rand io.Reader
	// Logger receives the manager's logs. Default slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the defaults; set LocalPeer, Dial and
// CertificateCheck.
func DefaultConfig() Config {
	return Config{
		MaxCalls:       1,
		RingTimeout:    30 * time.Second,
		MediaTimeout:   20 * time.Second,
		InviteTimeout:  10 * time.Second,
		WriteTimeout:   10 * time.Second,
		ResumeHold:     5 * time.Second,
		MaxMessageSize: MaxMessageSize,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxCalls == 0 {
		c.MaxCalls = d.MaxCalls
	}
	if c.RingTimeout == 0 {
		c.RingTimeout = d.RingTimeout
	}
	if c.MediaTimeout == 0 {
		c.MediaTimeout = d.MediaTimeout
	}
	if c.InviteTimeout == 0 {
		c.InviteTimeout = d.InviteTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.ResumeHold == 0 {
		c.ResumeHold = d.ResumeHold
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = d.MaxMessageSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.LocalPeer == "":
		return errors.New("signalling: Config.LocalPeer is empty: set it to this node's peer ID")
	case c.CertificateCheck == nil:
		return errors.New("signalling: Config.CertificateCheck is nil: the node must verify every caller's certificate")
	case c.MaxCalls < 0:
		return fmt.Errorf("signalling: Config.MaxCalls is %d: use 1 or more", c.MaxCalls)
	case c.RingTimeout < 0, c.MediaTimeout < 0, c.InviteTimeout < 0, c.WriteTimeout < 0, c.ResumeHold < 0:
		return errors.New("signalling: a Config timeout is negative: use a positive duration or 0 for the default")
	case c.MaxMessageSize < 0 || c.MaxMessageSize > MaxMessageSize:
		return fmt.Errorf("signalling: Config.MaxMessageSize is %d: use 1..%d or 0 for the default", c.MaxMessageSize, MaxMessageSize)
	}
	return nil
}

// Manager holds a node's calls: it places outgoing calls, answers incoming
// streams, limits how many calls go on at once (answering BUSY beyond) and
// resolves glare.
type Manager struct {
	cfg      Config
	log      *slog.Logger
	incoming chan *Call
	wg       sync.WaitGroup // call loops and HandleStream in progress

	mu      sync.Mutex
	closed  bool
	calls   map[CallID]*Call
	pending map[*Conn]struct{} // incoming streams whose INVITE is being read
}

// New returns a Manager. Close it to end every call.
func New(cfg Config) (*Manager, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.Logger.Info("signalling manager starting", "peer", cfg.LocalPeer, "max_calls", cfg.MaxCalls,
		"ring_timeout", cfg.RingTimeout, "media_timeout", cfg.MediaTimeout)
	return &Manager{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "signalling"),
		incoming: make(chan *Call, 16),
		calls:    make(map[CallID]*Call),
		pending:  make(map[*Conn]struct{}),
	}, nil
}

// Incoming delivers incoming calls once they ring. Each must be answered
// (Accept, Reject or Hangup) or it ends after the ring timeout. The channel
// is closed by Close.
func (m *Manager) Incoming() <-chan *Call { return m.incoming }

// ActiveCalls returns how many calls hold a slot (inviting, ringing, active).
func (m *Manager) ActiveCalls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.activeLocked()
}

func (m *Manager) activeLocked() int {
	n := 0
	for _, c := range m.calls {
		if !c.superseded {
			n++
		}
	}
	return n
}

// Invite is what an outgoing call sends in its INVITE.
type Invite struct {
	Certificate []byte // this node's directory certificate
	SDP         string // the SDP offer
	DisplayName string // optional
	// FullOffer, when set, is asked for the SDP offer when the callee's
	// stream does not speak trickle ICE (an older peer): SDP then holds a
	// trickle offer with the candidates gathered so far, and FullOffer
	// waits for the rest.
	FullOffer func(ctx context.Context) (string, error)
}

// Call places a call to peer: it dials, sends INVITE and returns the call in
// StateInviting; its Events say what happens next. If peer called us at the
// same moment and its call won, the returned call has already ended with
// EndGlare and the peer's call arrives on Incoming.
func (m *Manager) Call(ctx context.Context, peer string, inv Invite) (*Call, error) {
	if m.cfg.Dial == nil {
		return nil, errors.New("signalling: Config.Dial is nil: this manager cannot place calls")
	}
	probe := Message{Type: TypeInvite, CallID: CallID{1}, Certificate: inv.Certificate, SDP: inv.SDP, DisplayName: inv.DisplayName}
	if err := probe.Validate(); err != nil {
		return nil, fmt.Errorf("signalling: call %s: invalid invite: %w", peer, err)
	}
	id, err := NewCallID(m.cfg.Rand)
	if err != nil {
		return nil, err
	}
	c := newCall(m, id, peer, true, StateIdle)
	c.certificate, c.offer, c.displayName = inv.Certificate, inv.SDP, inv.DisplayName

	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return nil, ErrClosed
	case m.withPeerLocked(peer) != nil:
		m.mu.Unlock()
		return nil, fmt.Errorf("%w (peer %s)", ErrAlreadyInCall, peer)
	case m.activeLocked() >= m.cfg.MaxCalls:
		m.mu.Unlock()
		return nil, fmt.Errorf("%w (limit %d)", ErrTooManyCalls, m.cfg.MaxCalls)
	}
	m.calls[id] = c // holds the slot and makes glare visible from here on
	m.mu.Unlock()

	rw, err := m.cfg.Dial(ctx, peer)
	if err != nil {
		m.remove(c)
		return nil, fmt.Errorf("signalling: dial %s to place a call: %w", peer, err)
	}
	c.conn = NewConn(rw, m.cfg.MaxMessageSize)
	c.trickle = c.conn.trickle
	if !c.trickle && inv.FullOffer != nil {
		offer, err := inv.FullOffer(ctx)
		if err == nil {
			probe.SDP = offer
			err = probe.Validate()
		}
		if err != nil {
			_ = c.conn.Close()
			m.remove(c)
			return nil, fmt.Errorf("signalling: call %s: the full SDP offer for a peer without trickle ICE: %w", peer, err)
		}
		c.offer = offer
	}
	if !m.start(c) {
		_ = c.conn.Close()
		return nil, ErrClosed
	}
	select {
	case err = <-c.invited:
	case <-ctx.Done():
		_ = c.Hangup(context.Background(), "")
		return nil, fmt.Errorf("signalling: call %s: %w", peer, context.Cause(ctx))
	}
	if err != nil {
		<-c.done
		return nil, fmt.Errorf("signalling: call %s: %w", peer, err)
	}
	return c, nil
}

// start runs c's loop unless the manager is closed.
func (m *Manager) start(c *Call) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		delete(m.calls, c.id)
		return false
	}
	m.wg.Add(1)
	go c.run()
	return true
}

// withPeerLocked returns a call with peer that holds a slot, or nil.
func (m *Manager) withPeerLocked(peer string) *Call {
	for _, c := range m.calls {
		if c.remote == peer && !c.superseded {
			return c
		}
	}
	return nil
}

func (m *Manager) remove(c *Call) {
	m.mu.Lock()
	if m.calls[c.id] == c {
		delete(m.calls, c.id)
	}
	m.mu.Unlock()
}

// HandleStream serves one incoming signalling stream from remotePeer (the
// stream's authenticated remote peer ID) and takes ownership of rw. It reads
// the INVITE, checks the certificate (a failure is answered REJECT and never
// rings), resolves glare, answers BUSY when no slot is free, and otherwise
// rings: the call is delivered on Incoming and HandleStream returns nil. A
// refused call returns an error wrapping ErrRefused that says why.
func (m *Manager) HandleStream(ctx context.Context, remotePeer string, rw io.ReadWriteCloser) error {
	conn := NewConn(rw, m.cfg.MaxMessageSize)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		_ = conn.Close()
		return ErrClosed
	}
	m.wg.Add(1)
	m.pending[conn] = struct{}{}
	m.mu.Unlock()
	defer m.wg.Done()

	err := m.answer(ctx, remotePeer, conn)
	m.mu.Lock()
	delete(m.pending, conn)
	m.mu.Unlock()
	if err != nil {
		_ = conn.Close()
		m.log.Info("incoming call refused", "peer", remotePeer, "err", err)
	}
	return err
}

func (m *Manager) answer(ctx context.Context, peer string, conn *Conn) error {
	rctx, cancel := context.WithTimeout(ctx, m.cfg.InviteTimeout)
	inv, err := conn.Receive(rctx)
	cancel()
	if err != nil {
		return fmt.Errorf("%w: read INVITE from %s: %w", ErrRefused, peer, err)
	}
	if inv.Type == TypeResume {
		return m.resume(ctx, peer, conn, inv)
	}
	if inv.Type != TypeInvite {
		return fmt.Errorf("%w: %s opened the stream with %v instead of INVITE", ErrRefused, peer, inv.Type)
	}
	refuse := func(msg Message, why string) error {
		msg.CallID = inv.CallID
		sctx, cancel := context.WithTimeout(ctx, m.cfg.WriteTimeout)
		defer cancel()
		if err := conn.Send(sctx, msg); err != nil {
			m.log.Debug("refusal not delivered", "peer", peer, "err", err)
		}
		return fmt.Errorf("%w: call %v from %s: %s", ErrRefused, inv.CallID, peer, why)
	}

	username, err := m.cfg.CertificateCheck(peer, inv.Certificate)
	if err != nil {
		return refuse(Message{Type: TypeReject, Reason: ReasonBadCertificate, Detail: truncate(err.Error(), MaxDetailSize)},
			"certificate check failed: "+err.Error())
	}

	c := newCall(m, inv.CallID, peer, false, StateRinging)
	c.conn, c.offer, c.username, c.displayName = conn, inv.SDP, username, inv.DisplayName
	c.trickle = conn.trickle

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return refuse(Message{Type: TypeReject, Reason: ReasonShutdown}, "manager closed")
	}
	if _, dup := m.calls[inv.CallID]; dup {
		m.mu.Unlock()
		return refuse(Message{Type: TypeReject, Reason: ReasonProtocolError, Detail: "call id in use"}, "call id already in use")
	}
	if other := m.withPeerLocked(peer); other != nil {
		if !other.outgoing || other.State() == StateActive {
			m.mu.Unlock()
			return refuse(Message{Type: TypeBusy}, "already in a call with this peer")
		}
		// Glare: both sides called each other. Both sides keep the call
		// with the lower ID (on a tie, the one placed by the lower peer ID).
		if !m.incomingWinsLocked(inv.CallID, peer, other) {
			m.mu.Unlock()
			return refuse(Message{Type: TypeReject, Reason: ReasonGlare}, fmt.Sprintf("glare: our call %v wins", other.id))
		}
		m.log.Info("glare: the peer's call wins, cancelling ours", "ours", other.id.String(), "theirs", inv.CallID.String())
		other.superseded = true
		close(other.glare)
	}
	if m.activeLocked() >= m.cfg.MaxCalls {
		m.mu.Unlock()
		return refuse(Message{Type: TypeBusy}, fmt.Sprintf("busy (%d of %d calls)", m.cfg.MaxCalls, m.cfg.MaxCalls))
	}
	select {
	case m.incoming <- c:
	default:
		m.mu.Unlock()
		return refuse(Message{Type: TypeBusy}, "nobody is taking incoming calls (Incoming is full)")
	}
	m.calls[c.id] = c
	m.wg.Add(1)
	go c.run()
	m.mu.Unlock()
	c.log.Info("incoming call ringing", "username", username)
	return nil
}

// incomingWinsLocked decides glare between our outgoing call and the peer's
// incoming one, the same way on both sides: the lower call ID wins; on equal
// IDs the call placed by the lower peer ID wins.
func (m *Manager) incomingWinsLocked(theirs CallID, peer string, ours *Call) bool {
	switch bytes.Compare(theirs[:], ours.id[:]) {
	case -1:
		return true
	case 1:
		return false
	}
	return peer < m.cfg.LocalPeer
}

// Close ends every call (the peers see reason "shutdown"), interrupts
// incoming streams still being read, closes Incoming and waits for every
// goroutine the manager started.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.wg.Wait()
		return nil
	}
	m.closed = true
	close(m.incoming)
	calls := make([]*Call, 0, len(m.calls))
	for _, c := range m.calls {
		calls = append(calls, c)
	}
	for conn := range m.pending {
		_ = conn.Close()
	}
	m.mu.Unlock()
	for _, c := range calls {
		c.shutdown()
	}
	m.wg.Wait()
	return nil
}
