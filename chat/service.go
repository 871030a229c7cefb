package chat

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/events"
	"github.com/peercall/peercall/internal/wire"
)

// Defaults.
const (
	DefaultRetry    = 5 * time.Second
	maxRetry        = 5 * time.Minute
	DefaultRetryFor = 7 * 24 * time.Hour
	// DefaultRate and DefaultBurst throttle each sender: messages per
	// second, and how many may come at once.
	DefaultRate  = 50
	DefaultBurst = 200
	// batch bounds the messages one stream carries.
	batch         = 256
	streamTimeout = 10 * time.Second
	// maxStreamsPerUser bounds one sender's concurrent streams; maxStreams
	// all of them.
	maxStreamsPerUser = 2
	maxStreams        = 64
	// recentPeers: at start, this many recent partners are told this
	// user is here (so that their outboxes deliver at once).
	recentPeers  = 16
	recentWindow = 30 * 24 * time.Hour
	// TypingEvery is the least time between two typing notices to one
	// user (a notice shows for TypingShows).
	TypingEvery = 3 * time.Second
	TypingShows = 5 * time.Second
	// voiceCost is what a voice message spends of its sender's tokens.
	voiceCost = 20
	// A conversation whose recipient could not be found or reached is
	// watched: tried every watchEvery (a lookup, no dial while they are
	// offline) for watchFor, so that a recipient who never talked to this
	// user (and so is not told at start that this user is here) gets the
	// message within seconds of coming online. At most maxWatched
	// conversations are watched; the others back off to maxRetry.
	watchEvery = 2 * time.Second
	watchFor   = time.Hour
	maxWatched = 8
)

// errUnreachable wraps the failure to find or reach a recipient's node.
var errUnreachable = errors.New("recipient not reachable")

// Errors.
var (
	// ErrDisabled: chat is off (config or the administrator's policy).
	ErrDisabled = errors.New("chat is disabled")
	// ErrRefused: the recipient will not take the message.
	ErrRefused = errors.New("chat message refused")
)

// Config wires a Service to its node. Store, Host, Certificate, Verify and
// Resolve are required.
type Config struct {
	Store *Store
	Host  host.Host
	Self  string
	// Certificate is this node's current directory certificate.
	Certificate func() (*crypto.Certificate, error)
	// Verify checks a certificate presented by peer p and returns the
	// username it certifies.
	Verify func(p peer.ID, raw []byte) (string, error)
	// Resolve finds username's node and connects to it.
	Resolve func(ctx context.Context, username string) (peer.ID, error)
	// Blocked says whether username is blocked (nil: nobody).
	Blocked func(username string) bool
	// Rule says whether chat is on (the zero Rule is off: use
	// Effective).
	Rule Rule
	// WaitCertified waits until the peer has our certificate (the
	// node's admission; nil: no wait).
	WaitCertified func(ctx context.Context, p peer.ID) error
	// Publish receives KindChat events (Event).
	Publish func(kind events.Kind, data any)
	// Retry is the first retry delay (doubling to 5 min); RetryFor how
	// long a message is tried before it expires.
	Retry, RetryFor time.Duration
	// Rate (messages per second) and Burst throttle each sender.
	Rate  float64
	Burst int
	// Guard wraps the stream handler (the node's admission budget for
	// peers without a certificate; nil: none).
	Guard func(network.StreamHandler) network.StreamHandler
	// NewStream opens a stream (default Host.NewStream with limited
	// connections allowed).
	NewStream func(ctx context.Context, p peer.ID) (network.Stream, error)
	// NoTyping: send no typing notices and show none
	// (chat.typing_notices = false).
	NoTyping bool
	Logger   *slog.Logger
	Now      func() time.Time
}

// Event is the Data of a KindChat event.
type Event struct {
	// What: "message" (a new one came), "sent" (this user queued one),
	// "delivered", "read", "expired",
	// "refused", "typing".
	What    string   `json:"what"`
	Peer    string   `json:"peer"`
	Message *Message `json:"message,omitempty"`
	// UpTo is the sequence number a read receipt covers.
	UpTo uint64 `json:"up_to,omitempty"`
}

// Service is a user's chat at work.
type Service struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{}
	conns  chan peer.ID
	notify *network.NotifyBundle

	passMu sync.Mutex // one outbox pass at a time

	mu      sync.Mutex
	closing bool
	watched map[string]time.Time // username -> when the watch began
	typed   map[string]time.Time // username -> the last typing notice sent
	buckets map[string]*bucket
	streams map[string]int
	total   int
	// Throttled counts frames refused for a sender's rate.
	throttled int
}

type bucket struct {
	tokens float64
	at     time.Time
}

// Open starts a service: it serves the protocol on cfg.Host, delivers the
// outbox now and tells recent partners this user is here.
func Open(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Host == nil || cfg.Certificate == nil || cfg.Verify == nil || cfg.Resolve == nil {
		return nil, errors.New("chat: store, host, certificate, verify and resolve are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Retry <= 0 {
		cfg.Retry = DefaultRetry
	}
	if cfg.RetryFor <= 0 {
		cfg.RetryFor = DefaultRetryFor
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Publish == nil {
		cfg.Publish = func(events.Kind, any) {}
	}
	if cfg.Blocked == nil {
		cfg.Blocked = func(string) bool { return false }
	}
	if cfg.NewStream == nil {
		cfg.NewStream = func(ctx context.Context, p peer.ID) (network.Stream, error) {
			if cfg.WaitCertified != nil {
				_ = cfg.WaitCertified(ctx, p)
			}
			return cfg.Host.NewStream(network.WithAllowLimitedConn(ctx, "chat"), p, protocol.ID(ProtocolID))
		}
	}
	s := &Service{cfg: cfg, log: cfg.Logger.With("part", "chat"), now: cfg.Now, kick: make(chan struct{}, 1),
		conns: make(chan peer.ID, 64), buckets: map[string]*bucket{}, streams: map[string]int{}, watched: map[string]time.Time{}, typed: map[string]time.Time{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	handler := network.StreamHandler(s.handleStream)
	if cfg.Guard != nil {
		handler = cfg.Guard(handler)
	}
	cfg.Host.SetStreamHandler(protocol.ID(ProtocolID), handler)
	s.notify = &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		select {
		case s.conns <- c.RemotePeer():
		default:
		}
	}}
	cfg.Host.Network().Notify(s.notify)
	s.wg.Add(1)
	go s.loop()
	if cfg.Rule.Enabled {
		s.announce(ctx)
	}
	return s, nil
}

// Rule is the chat rule in force.
func (s *Service) Rule() Rule { return s.cfg.Rule }

// Close stops serving, waits for what the service started and closes
// the store.
func (s *Service) Close() error {
	s.cfg.Host.RemoveStreamHandler(protocol.ID(ProtocolID))
	s.cfg.Host.Network().StopNotify(s.notify)
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return s.cfg.Store.Close()
}

// Store returns the service's store.
func (s *Service) Store() *Store { return s.cfg.Store }

// Throttled is how many frames were refused for their sender's rate.
func (s *Service) Throttled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttled
}

func (s *Service) spawn(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.wg.Go(f)
}

func (s *Service) kickOutbox() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Service) publish(e Event) { s.cfg.Publish(events.KindChat, e) }

// Send queues text for username and tries to deliver it now. The message
// is on disk when Send returns; delivered says it reached their node (else
// the outbox retries, for chat.retry_for).
func (s *Service) Send(ctx context.Context, username, text string) (m Message, delivered bool, err error) {
	if !s.cfg.Rule.Enabled {
		return Message{}, false, fmt.Errorf("%w by %s", ErrDisabled, s.cfg.Rule.Source)
	}
	if username == s.cfg.Self {
		return Message{}, false, fmt.Errorf("%w: %s is you", ErrRefused, username)
	}
	if err := CheckText(text); err != nil {
		return Message{}, false, err
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	now := s.now()
	m, err = s.cfg.Store.queue(ctx, username, hex.EncodeToString(id[:]), text, now, now.Add(s.cfg.RetryFor))
	if err != nil {
		return Message{}, false, err
	}
	sent := m // the event's copy: m changes below
	s.publish(Event{What: "sent", Peer: username, Message: &sent})
	s.deliverTo(ctx, username)
	st, err := s.state(ctx, m.Local)
	if err == nil {
		m.State = st.State
		m.Reason = st.Reason
	}
	return m, m.State == StateDelivered || m.State == StateRead, nil
}

// SendVoice queues a voice message (an Ogg Opus file of length) for
// username, as Send does a text.
func (s *Service) SendVoice(ctx context.Context, username string, ogg []byte, length time.Duration) (m Message, delivered bool, err error) {
	if !s.cfg.Rule.Enabled {
		return Message{}, false, fmt.Errorf("%w by %s", ErrDisabled, s.cfg.Rule.Source)
	}
	if len(ogg) == 0 || len(ogg) > MaxVoice || length <= 0 || length > MaxVoiceLength {
		return Message{}, false, fmt.Errorf("a voice message of %d bytes and %v: the limits are %d bytes and %v", len(ogg), length, MaxVoice, MaxVoiceLength)
	}
	if max := s.cfg.Rule.maxVoice(); length > max {
		return Message{}, false, fmt.Errorf("%w: a voice message of %v is longer than %v (%s); record a shorter one", ErrRefused, length.Round(100*time.Millisecond), max, s.cfg.Rule.VoiceSource)
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	now := s.now()
	m, err = s.cfg.Store.queueKind(ctx, username, hex.EncodeToString(id[:]), "", ogg, length.Milliseconds(), now, now.Add(s.cfg.RetryFor))
	if err != nil {
		return Message{}, false, err
	}
	sent := m
	s.publish(Event{What: "sent", Peer: username, Message: &sent})
	s.deliverTo(ctx, username)
	if st, err := s.state(ctx, m.Local); err == nil {
		m = st
	}
	return m, m.State == StateDelivered || m.State == StateRead, nil
}

func (s *Service) state(ctx context.Context, local int64) (Message, error) {
	rows, err := s.cfg.Store.db.QueryContext(ctx, `SELECT `+msgColumns+` FROM chat_messages WHERE local = ?`, local)
	if err != nil {
		return Message{}, err
	}
	ms, err := scanMessages(rows)
	if err != nil || len(ms) == 0 {
		return Message{}, fmt.Errorf("chat: message %d not found: %w", local, err)
	}
	return ms[0], nil
}

// MarkRead marks username's messages read and sends them a read receipt.
func (s *Service) MarkRead(ctx context.Context, username string) error {
	upto, err := s.cfg.Store.markRead(ctx, username, s.now())
	if err != nil || upto == 0 {
		return err
	}
	s.kickOutbox()
	return nil
}

// History returns the messages q selects, oldest first.
func (s *Service) History(ctx context.Context, q Query) ([]Message, error) {
	return s.cfg.Store.History(ctx, q)
}

// loop delivers the outbox when due or when a partner's node connects,
// and expires what waited too long.
func (s *Service) loop() {
	defer s.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		case <-s.kick:
		case p := <-s.conns:
			if ok, _ := s.cfg.Store.hurryPeer(s.ctx, p.String()); !ok {
				continue
			}
		}
		s.expire()
		s.deliverDue()
	}
}

func (s *Service) expire() {
	ms, err := s.cfg.Store.expire(s.ctx, s.now())
	if err != nil {
		s.log.Warn("chat outbox unreadable", "err", err)
		return
	}
	for _, m := range ms {
		s.log.Info("chat message expired undelivered", "to", m.Peer, "id", m.ID)
		s.publish(Event{What: StateExpired, Peer: m.Peer, Message: &m})
	}
}

func (s *Service) deliverDue() {
	if !s.cfg.Rule.Enabled {
		return
	}
	due, err := s.cfg.Store.due(s.ctx, s.now())
	if err != nil {
		s.log.Warn("chat outbox unreadable", "err", err)
		return
	}
	for _, p := range due {
		if s.ctx.Err() != nil {
			return
		}
		s.deliverTo(s.ctx, p.Peer)
	}
}

// outcome of one pass at a conversation.
type outcome struct {
	err       error
	throttled time.Duration
	refused   string
}

// deliverTo runs one outbox pass at username's conversation: the owed read
// receipt and the queued messages, in order, on one stream.
func (s *Service) deliverTo(ctx context.Context, username string) {
	s.passMu.Lock()
	defer s.passMu.Unlock()
	st := s.cfg.Store
	p, ok, err := st.pendingFor(ctx, username)
	if err != nil || !ok {
		return
	}
	out := s.pass(ctx, p)
	now := s.now()
	if out.err == nil {
		s.watch(username, false, now)
	}
	switch {
	case out.refused != "":
		// Nothing queued will be taken: say so.
		s.log.Info("chat messages refused by their recipient", "to", username, "reason", out.refused)
		for {
			ms, err := st.outgoing(ctx, username, batch)
			if err != nil || len(ms) == 0 {
				break
			}
			for _, m := range ms {
				_ = st.setState(ctx, username, m.Local, StateRefused, out.refused)
				m.State, m.Reason = StateRefused, out.refused
				s.publish(Event{What: StateRefused, Peer: username, Message: &m})
			}
		}
		_ = st.readSent(ctx, username, p.ReadUpto)
		_ = st.passed(ctx, username)
	case out.throttled > 0:
		_ = st.retry(ctx, username, now.Add(out.throttled), false)
	case out.err != nil:
		wait := min(maxRetry, s.cfg.Retry<<min(p.Attempts, 16))
		if s.watch(username, errors.Is(out.err, errUnreachable), now) {
			wait = min(wait, watchEvery)
		}
		_ = st.retry(ctx, username, now.Add(wait), true)
		s.log.Debug("chat messages not delivered; will retry", "to", username, "in", wait, "err", out.err)
	default:
		if more, _ := st.outgoing(ctx, username, 1); len(more) > 0 {
			s.kickOutbox() // a full batch went: the rest next
		}
		_ = st.passed(ctx, username)
	}
}

// watch starts (unreachable) or ends the watch of username's
// conversation; it says whether it is watched.
func (s *Service) watch(username string, unreachable bool, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !unreachable {
		delete(s.watched, username)
		return false
	}
	since, ok := s.watched[username]
	if !ok && len(s.watched) >= maxWatched {
		for u, t := range s.watched { // the spent watches make room
			if now.Sub(t) >= watchFor {
				delete(s.watched, u)
			}
		}
	}
	if !ok && len(s.watched) < maxWatched {
		since, ok = now, true
		s.watched[username] = now
	}
	return ok && now.Sub(since) < watchFor
}

// peerOf is username's node: the one on record while connected, else a
// lookup.
func (s *Service) peerOf(ctx context.Context, p pending) (peer.ID, error) {
	if p.PeerID != "" {
		if id, err := peer.Decode(p.PeerID); err == nil && s.cfg.Host.Network().Connectedness(id) == network.Connected {
			return id, nil
		}
	}
	id, err := s.cfg.Resolve(ctx, p.Peer)
	if err == nil {
		_ = s.cfg.Store.notePeer(ctx, p.Peer, id.String())
	}
	return id, err
}

// session is an open stream on which frames are sent and acked.
type session struct {
	s  network.Stream
	br *bufio.Reader
}

func (c *session) do(f frame) (frame, error) {
	body, err := f.marshal()
	if err != nil {
		return frame{}, err
	}
	_ = c.s.SetDeadline(time.Now().Add(streamTimeout))
	if err := wire.WriteFrame(c.s, body, MaxFrame); err != nil {
		return frame{}, err
	}
	data, err := wire.ReadFrame(c.br, MaxFrame, ErrMalformed)
	if err != nil {
		return frame{}, err
	}
	ack, err := decodeFrame(data)
	if err == nil && ack.Type != typeAck {
		err = fmt.Errorf("%w: frame type %d instead of an ack", ErrMalformed, ack.Type)
	}
	return ack, err
}

// open dials username's node and sends the Hello.
func (s *Service) open(ctx context.Context, p pending) (*session, frame, error) {
	cert, err := s.cfg.Certificate()
	if err != nil {
		return nil, frame{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	id, err := s.peerOf(ctx, p)
	if err != nil {
		return nil, frame{}, fmt.Errorf("%w: %w", errUnreachable, err)
	}
	st, err := s.cfg.NewStream(ctx, id)
	if err != nil {
		return nil, frame{}, fmt.Errorf("%w: open %s to %s: %w", errUnreachable, ProtocolID, p.Peer, err)
	}
	c := &session{s: st, br: bufio.NewReader(st)}
	ack, err := c.do(frame{Type: typeHello, Cert: cert.Marshal()})
	if err != nil {
		_ = st.Reset()
		return nil, frame{}, fmt.Errorf("greet %s: %w", p.Peer, err)
	}
	return c, ack, nil
}

func (s *Service) pass(ctx context.Context, p pending) outcome {
	c, ack, err := s.open(ctx, p)
	if err != nil {
		return outcome{err: err}
	}
	defer c.s.Close()
	check := func(ack frame) (outcome, bool) {
		switch ack.Result {
		case ackRefused:
			return outcome{refused: ack.Reason}, false
		case ackThrottled:
			return outcome{throttled: max(time.Duration(ack.RetryMs)*time.Millisecond, 100*time.Millisecond)}, false
		}
		return outcome{}, true
	}
	if out, ok := check(ack); !ok {
		return out
	}
	st := s.cfg.Store
	if p.ReadUpto > 0 {
		ack, err := c.do(frame{Type: typeRead, Seq: p.ReadUpto})
		if err != nil {
			_ = c.s.Reset()
			return outcome{err: err}
		}
		if out, ok := check(ack); !ok {
			return out
		}
		_ = st.readSent(ctx, p.Peer, p.ReadUpto)
	}
	ms, err := st.outgoing(ctx, p.Peer, batch)
	if err != nil {
		return outcome{err: err}
	}
	for _, m := range ms {
		var id [16]byte
		if b, err := hex.DecodeString(m.ID); err != nil || len(b) != len(id) {
			return outcome{err: fmt.Errorf("chat: message id %q in the store: %v", m.ID, err)}
		} else {
			copy(id[:], b)
		}
		f := frame{Type: typeText, ID: id, Seq: m.Seq, Sent: ms0(m.Sent), Text: m.Text}
		if m.Kind == KindVoice {
			audio, _, err := st.Audio(ctx, m.Local)
			if err != nil {
				return outcome{err: err}
			}
			f = frame{Type: typeVoice, ID: id, Seq: m.Seq, Sent: ms0(m.Sent), Audio: audio, DurationMs: uint32(m.DurationMs)}
		}
		ack, err := c.do(f)
		if err != nil {
			_ = c.s.Reset()
			return outcome{err: err}
		}
		if ack.Result == ackRefused {
			// This message only (a voice message over their cap).
			_ = st.setState(ctx, p.Peer, m.Local, StateRefused, ack.Reason)
			m.State, m.Reason = StateRefused, ack.Reason
			s.publish(Event{What: StateRefused, Peer: p.Peer, Message: &m})
			continue
		}
		if out, ok := check(ack); !ok {
			return out
		}
		if err := st.delivered(ctx, m.Local, s.now()); err != nil {
			return outcome{err: err}
		}
		m.State = StateDelivered
		s.publish(Event{What: StateDelivered, Peer: p.Peer, Message: &m})
	}
	return outcome{}
}

func ms0(t time.Time) int64 { return t.UnixMilli() }

// announce tells recent partners this user is here: each answers by
// delivering what it holds for them.
func (s *Service) announce(ctx context.Context) {
	users, err := s.cfg.Store.recent(ctx, s.now().Add(-recentWindow), recentPeers)
	if err != nil {
		return
	}
	for _, u := range users {
		s.spawn(func() {
			p := pending{Peer: u}
			ctx, cancel := context.WithTimeout(s.ctx, streamTimeout)
			defer cancel()
			c, _, err := s.open(ctx, p)
			if err != nil {
				s.log.Debug("chat partner not told we are here", "user", u, "err", err)
				return
			}
			_ = c.s.Close()
		})
	}
}

// SendTyping tells username that this user is typing, when their node is
// connected and no notice went to them in the last TypingEvery: nothing
// is stored, retried or looked up. sent says whether a notice went.
func (s *Service) SendTyping(ctx context.Context, username string) (sent bool, err error) {
	if !s.cfg.Rule.Enabled || s.cfg.NoTyping || username == s.cfg.Self {
		return false, nil
	}
	now := s.now()
	s.mu.Lock()
	last, ok := s.typed[username]
	if ok && now.Sub(last) < TypingEvery {
		s.mu.Unlock()
		return false, nil
	}
	if len(s.typed) >= 1024 {
		clear(s.typed)
	}
	s.typed[username] = now
	s.mu.Unlock()
	pid, err := s.cfg.Store.peerID(ctx, username)
	if err != nil || pid == "" {
		return false, err
	}
	if id, err := peer.Decode(pid); err != nil || s.cfg.Host.Network().Connectedness(id) != network.Connected {
		return false, nil
	}
	c, ack, err := s.open(ctx, pending{Peer: username, PeerID: pid})
	if err != nil {
		return false, err
	}
	defer c.s.Close()
	if ack.Result != ackOK {
		return false, fmt.Errorf("%w: %s", ErrRefused, ack.Reason)
	}
	_, err = c.do(frame{Type: typeTyping})
	return err == nil, err
}

// admit counts a stream from username; false when they have too many.
func (s *Service) admit(username string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[username] >= maxStreamsPerUser || s.total >= maxStreams {
		return false
	}
	s.streams[username]++
	s.total++
	return true
}

func (s *Service) leave(username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.streams[username]--; s.streams[username] <= 0 {
		delete(s.streams, username)
	}
}

// take spends one of username's tokens; the wait until the next one when
// none is left.
func (s *Service) take(username string, cost float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	b := s.buckets[username]
	if b == nil {
		b = &bucket{tokens: float64(s.cfg.Burst), at: now}
		s.buckets[username] = b
		if len(s.buckets) > 4096 {
			for u, o := range s.buckets { // forget the full ones
				if u != username && o.tokens+now.Sub(o.at).Seconds()*s.cfg.Rate >= float64(s.cfg.Burst) {
					delete(s.buckets, u)
				}
			}
		}
	}
	b.tokens = min(float64(s.cfg.Burst), b.tokens+now.Sub(b.at).Seconds()*s.cfg.Rate)
	b.at = now
	cost = min(cost, float64(s.cfg.Burst))
	if b.tokens >= cost {
		b.tokens -= cost
		return 0
	}
	s.throttled++
	return max(time.Duration((cost-b.tokens)/s.cfg.Rate*float64(time.Second)), time.Millisecond)
}

// handleStream serves one incoming stream: a Hello, then items.
func (s *Service) handleStream(st network.Stream) {
	defer st.Close()
	remote := st.Conn().RemotePeer()
	br := bufio.NewReader(st)
	read := func() (frame, error) {
		_ = st.SetDeadline(time.Now().Add(streamTimeout))
		data, err := wire.ReadFrame(br, MaxFrame, ErrMalformed)
		if err != nil {
			return frame{}, err
		}
		return decodeFrame(data)
	}
	reply := func(a frame) error {
		a.Type = typeAck
		body, _ := a.marshal()
		return wire.WriteFrame(st, body, MaxFrame)
	}
	_ = st.SetDeadline(time.Now().Add(streamTimeout))
	_, username, err := wire.Opening[frame]{What: "chat stream", Max: MaxFrame, Malformed: ErrMalformed, Logger: s.log,
		Decode: decodeHello, Cert: func(f frame) []byte { return f.Cert },
		Verify: func(cert []byte) (string, error) { return s.cfg.Verify(remote, cert) },
	}.Read(st, br, remote)
	if err != nil {
		return
	}
	if !s.cfg.Rule.Enabled {
		_ = reply(frame{Result: ackRefused, Reason: truncate(fmt.Sprintf("%s does not take chat messages: %s", s.cfg.Self, s.cfg.Rule.Describe()))})
		return
	}
	if s.cfg.Blocked(username) {
		_ = reply(frame{Result: ackRefused, Reason: s.cfg.Self + " does not take chat messages from you"})
		return
	}
	if !s.admit(username) {
		_ = reply(frame{Result: ackThrottled, RetryMs: 1000, Reason: "too many streams at once"})
		return
	}
	defer s.leave(username)
	ctx := s.ctx
	_ = s.cfg.Store.notePeer(ctx, username, remote.String())
	// They are here: what waits for them goes now.
	_ = s.cfg.Store.hurryUser(ctx, username)
	s.kickOutbox()
	if err := reply(frame{Result: ackOK}); err != nil {
		return
	}
	for {
		f, err := read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				return
			}
			s.log.Info("malformed chat frame", "from", username, "err", err)
			_ = st.Reset()
			return
		}
		var a frame
		switch f.Type {
		case typeText, typeVoice:
			cost := 1.0
			if f.Type == typeVoice {
				cost = voiceCost
			}
			if max := s.cfg.Rule.maxVoice(); f.Type == typeVoice && time.Duration(f.DurationMs)*time.Millisecond > max {
				a = frame{Result: ackRefused, Reason: truncate(fmt.Sprintf("%s takes voice messages of at most %v (%s)", s.cfg.Self, max, s.cfg.Rule.VoiceSource))}
				break
			}
			if wait := s.take(username, cost); wait > 0 {
				a = frame{Result: ackThrottled, RetryMs: uint32(min(wait, time.Minute) / time.Millisecond)}
				break
			}
			m, isNew, err := s.cfg.Store.receive(ctx, username, f, s.now())
			if err != nil {
				s.log.Warn("chat message not stored", "from", username, "err", err)
				_ = st.Reset()
				return
			}
			if isNew {
				s.publish(Event{What: "message", Peer: username, Message: &m})
			}
		case typeRead:
			n, err := s.cfg.Store.readByPeer(ctx, username, f.Seq)
			if err != nil {
				_ = st.Reset()
				return
			}
			if n > 0 {
				s.publish(Event{What: StateRead, Peer: username, UpTo: f.Seq})
			}
		case typeTyping:
			if wait := s.take(username, 1); wait > 0 {
				a = frame{Result: ackThrottled, RetryMs: uint32(min(wait, time.Minute) / time.Millisecond)}
				break
			}
			if !s.cfg.NoTyping {
				s.publish(Event{What: "typing", Peer: username})
			}
		default:
			s.log.Info("unexpected chat frame", "from", username, "type", f.Type)
			_ = st.Reset()
			return
		}
		if err := reply(a); err != nil {
			return
		}
	}
}

func truncate(s string) string {
	if len(s) > maxReason {
		return strings.ToValidUTF8(s[:maxReason], "")
	}
	return s
}
