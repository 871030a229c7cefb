package contacts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// Errors of the book's operations.
var (
	// ErrUnknownUser: the directory knows no such user (Config.Resolve's
	// errors wrap it for such a user).
	ErrUnknownUser = errors.New("no such user")
	// ErrState: the operation does not fit the contact's state (accepting
	// a request nobody made, adding oneself).
	ErrState = errors.New("not possible for this contact")
)

// Calls-from settings (contacts.calls_from): what happens to a call from
// someone who is not an accepted contact.
const (
	CallsFromAnyone   = "anyone"   // it rings
	CallsFromRequest  = "request"  // it is refused and shows as a contact request
	CallsFromContacts = "contacts" // it is refused
)

// Timing defaults.
const (
	DefaultRetry   = 5 * time.Second
	maxRetry       = 5 * time.Minute
	DefaultRefresh = time.Minute
	streamTimeout  = 10 * time.Second
	pushTimeout    = 5 * time.Second
	closeTimeout   = 2 * time.Second
	maxPushes      = 8
)

// Config wires a Book to its node. Store, Host, Certificate, Verify and
// Resolve are required.
type Config struct {
	Store *Store
	Host  host.Host
	// Self is this user's name.
	Self string
	// Certificate is this node's current directory certificate.
	Certificate func() (*crypto.Certificate, error)
	// Verify checks a certificate presented by peer p (the stream's
	// Noise-authenticated peer) and returns the username it certifies.
	Verify func(p peer.ID, raw []byte) (string, error)
	// Resolve finds username's node and connects to it; an error wraps
	// ErrUnknownUser when there is no such user.
	Resolve func(ctx context.Context, username string) (peer.ID, error)
	// Publish receives the book's events (KindContacts, KindPresence).
	Publish func(kind events.Kind, data any)
	// CallsFrom is contacts.calls_from (default CallsFromAnyone).
	CallsFrom string
	// AwayAfter turns online into away after this long without activity
	// (Touch); 0 never.
	AwayAfter time.Duration
	// Retry is the outbox's first retry delay (doubling to 5 min);
	// Refresh how often presence is sent again to every contact, who
	// counts a contact unheard of for 3 Refresh as offline.
	Retry, Refresh time.Duration
	Logger         *slog.Logger
	Now            func() time.Time
}

// Contact is a contact with what is known of their presence now.
type Contact struct {
	Record
	Status Status    `json:"status"`
	Mood   string    `json:"mood,omitempty"`
	Seen   time.Time `json:"seen,omitzero"`
	// Queued counts messages to them waiting in the outbox.
	Queued int `json:"queued,omitempty"`
}

// ContactsEvent is the Data of a KindContacts event.
type ContactsEvent struct {
	Username string `json:"username"`
	// State is the contact's new state, or "" when they left the list.
	State State  `json:"state"`
	Note  string `json:"note,omitempty"`
	// Why: "request", "accepted", "declined", "removed", "blocked",
	// "unknown user", "call" (a refused call became a request).
	Why string `json:"why"`
}

// PresenceEvent is the Data of a KindPresence event.
type PresenceEvent struct {
	Username string `json:"username"`
	Status   Status `json:"status"`
	Mood     string `json:"mood,omitempty"`
	// Self marks this user's own status.
	Self bool `json:"self,omitempty"`
}

type live struct {
	status Status
	mood   string
	seen   time.Time
}

// Book is a user's contact list at work: it serves /peercall/contacts/1,
// delivers the outbox, pushes this user's status to accepted contacts and
// tracks theirs.
type Book struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{}
	conns  chan peer.ID
	notify *network.NotifyBundle
	sem    chan struct{}

	goMu    sync.Mutex // orders spawn against Close
	closing bool

	outMu    sync.Mutex      // one outbox pass at a time
	flushing map[string]bool // users an operation delivers to itself (under outMu)

	mu         sync.Mutex
	chosen     Status
	mood       string
	autoAway   bool
	lastActive time.Time
	peers      map[string]live
}

// Open starts a book: it loads this user's status, serves the protocol on
// cfg.Host and tells accepted contacts this user is here.
func Open(ctx context.Context, cfg Config) (*Book, error) {
	if cfg.Store == nil || cfg.Host == nil || cfg.Certificate == nil || cfg.Verify == nil || cfg.Resolve == nil {
		return nil, errors.New("contacts: store, host, certificate, verify and resolve are required")
	}
	switch cfg.CallsFrom {
	case "":
		cfg.CallsFrom = CallsFromAnyone
	case CallsFromAnyone, CallsFromRequest, CallsFromContacts:
	default:
		return nil, fmt.Errorf("contacts.calls_from %q: choose anyone, request or contacts", cfg.CallsFrom)
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
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.Publish == nil {
		cfg.Publish = func(events.Kind, any) {}
	}
	b := &Book{cfg: cfg, log: cfg.Logger.With("part", "contacts"), now: cfg.Now, kick: make(chan struct{}, 1),
		conns: make(chan peer.ID, 64), sem: make(chan struct{}, maxPushes), peers: map[string]live{}, chosen: Online, flushing: map[string]bool{}}
	st, err := cfg.Store.Setting(ctx, "status")
	if err != nil {
		return nil, fmt.Errorf("contacts: read the saved status: %w", err)
	}
	if st != "" {
		if b.chosen, err = ParseStatus(st); err != nil {
			b.chosen = Online
		}
	}
	if b.mood, err = cfg.Store.Setting(ctx, "mood"); err != nil {
		return nil, fmt.Errorf("contacts: read the saved mood: %w", err)
	}
	b.lastActive = b.now()
	b.ctx, b.cancel = context.WithCancel(context.Background())
	cfg.Host.SetStreamHandler(protocol.ID(ProtocolID), b.handleStream)
	b.notify = &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		select {
		case b.conns <- c.RemotePeer():
		default:
		}
	}}
	cfg.Host.Network().Notify(b.notify)
	b.wg.Add(1)
	go b.loop()
	b.pushAll()
	return b, nil
}

// Close tells accepted contacts this user went offline (within 2 s), stops
// serving and waits for what the book started.
func (b *Book) Close() error {
	b.cfg.Host.RemoveStreamHandler(protocol.ID(ProtocolID))
	b.cfg.Host.Network().StopNotify(b.notify)
	b.goMu.Lock()
	b.closing = true
	b.goMu.Unlock()
	b.cancel()
	b.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	recs, _ := b.accepted(ctx)
	var wg sync.WaitGroup
	for _, r := range recs {
		id, err := peer.Decode(r.PeerID)
		if err != nil || b.cfg.Host.Network().Connectedness(id) != network.Connected {
			continue
		}
		wg.Go(func() {
			if _, err := b.send(ctx, id, Message{Type: TypePresence, Status: Offline}); err != nil {
				b.log.Debug("offline status not delivered", "contact", r.Username, "err", err)
			}
		})
	}
	wg.Wait()
	return nil
}

// Touch records the user's activity: an auto-away user is online again.
func (b *Book) Touch() {
	b.mu.Lock()
	b.lastActive = b.now()
	back := b.autoAway
	b.autoAway = false
	b.mu.Unlock()
	if back {
		b.selfChanged()
	}
}

// Self returns this user's effective status (away when idle) and mood.
func (b *Book) Self() (Status, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.effectiveLocked(), b.mood
}

func (b *Book) effectiveLocked() Status {
	if b.chosen == Online && b.autoAway {
		return Away
	}
	return b.chosen
}

// SetStatus chooses this user's status and mood (mood nil: unchanged),
// saves them and pushes them to accepted contacts.
func (b *Book) SetStatus(ctx context.Context, st Status, mood *string) error {
	if _, err := ParseStatus(string(st)); err != nil {
		return err
	}
	if mood != nil {
		if err := checkText(*mood, MaxMood, "mood"); err != nil {
			return err
		}
	}
	if err := b.cfg.Store.SetSetting(ctx, "status", string(st)); err != nil {
		return err
	}
	if mood != nil {
		if err := b.cfg.Store.SetSetting(ctx, "mood", *mood); err != nil {
			return err
		}
	}
	b.mu.Lock()
	b.chosen, b.autoAway, b.lastActive = st, false, b.now()
	if mood != nil {
		b.mood = *mood
	}
	b.mu.Unlock()
	b.selfChanged()
	return nil
}

func checkText(s string, max int, what string) error {
	if len(s) > max {
		return fmt.Errorf("%s of %d bytes is too long; the limit is %d", what, len(s), max)
	}
	r := wire.NewReader(nil, ErrState)
	r.Text([]byte(s), what)
	if r.Err() != nil {
		return fmt.Errorf("%s: use printable text (%v)", what, r.Err())
	}
	return nil
}

func (b *Book) selfChanged() {
	st, mood := b.Self()
	b.cfg.Publish(events.KindPresence, PresenceEvent{Username: b.cfg.Self, Status: st, Mood: mood, Self: true})
	b.pushAll()
}

// visibleStatus is what this user shows to accepted contacts.
func (b *Book) visibleStatus() (Status, string) {
	st, mood := b.Self()
	if st == Invisible {
		return Offline, ""
	}
	return st, mood
}

// List returns every contact with their presence.
func (b *Book) List(ctx context.Context) ([]Contact, error) {
	recs, err := b.cfg.Store.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Contact, 0, len(recs))
	for _, r := range recs {
		c := Contact{Record: r, Status: Offline}
		if r.State == StateAccepted {
			c.Status, c.Mood, c.Seen = b.presenceOf(r.Username)
		}
		c.Queued, _ = b.cfg.Store.Pending(ctx, r.Username)
		out = append(out, c)
	}
	return out, nil
}

// presenceOf is what is known of an accepted contact's status now.
func (b *Book) presenceOf(username string) (Status, string, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.peers[username]
	if !ok {
		return Offline, "", time.Time{}
	}
	if l.status != Offline && b.now().Sub(l.seen) > 3*b.cfg.Refresh {
		return Offline, "", l.seen
	}
	return l.status, l.mood, l.seen
}

func (b *Book) setLive(username string, st Status, mood string) {
	b.mu.Lock()
	old, had := b.peers[username]
	b.peers[username] = live{status: st, mood: mood, seen: b.now()}
	b.mu.Unlock()
	if !had || old.status != st || old.mood != mood {
		b.cfg.Publish(events.KindPresence, PresenceEvent{Username: username, Status: st, Mood: mood})
	}
}

func (b *Book) forget(username string) {
	b.mu.Lock()
	_, had := b.peers[username]
	delete(b.peers, username)
	b.mu.Unlock()
	if had {
		b.cfg.Publish(events.KindPresence, PresenceEvent{Username: username, Status: Offline})
	}
}

func (b *Book) accepted(ctx context.Context) ([]Record, error) {
	recs, err := b.cfg.Store.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, r := range recs {
		if r.State == StateAccepted {
			out = append(out, r)
		}
	}
	return out, nil
}

func (b *Book) get(ctx context.Context, username string) (Record, bool, error) {
	r, err := b.cfg.Store.Get(ctx, username)
	if errors.Is(err, ErrNotFound) {
		return Record{Username: username}, false, nil
	}
	return r, err == nil, err
}

func (b *Book) changed(username string, st State, note, why string) {
	b.cfg.Publish(events.KindContacts, ContactsEvent{Username: username, State: st, Note: note, Why: why})
}

// Add asks username to become a contact, with an optional note. The
// request goes out at once when they are online (delivered true), else it
// waits in the outbox. Adding someone whose request waits accepts it.
func (b *Book) Add(ctx context.Context, username, note string) (delivered bool, err error) {
	if username == b.cfg.Self {
		return false, fmt.Errorf("%w: %s is you", ErrState, username)
	}
	if err := checkText(note, MaxNote, "the request's message"); err != nil {
		return false, err
	}
	b.hold(username)
	defer b.release(username)
	r, ok, err := b.get(ctx, username)
	if err != nil {
		return false, err
	}
	switch {
	case ok && r.State == StateAccepted:
		return false, fmt.Errorf("%w: %s is already a contact", ErrState, username)
	case ok && r.State == StateIncoming:
		return b.answer(ctx, username, true)
	}
	now := b.now()
	if !ok {
		r.Added = now
	}
	r.State, r.Note, r.Updated = StateOutgoing, note, now
	if err := b.cfg.Store.Put(ctx, r, &Outgoing{Username: username, Type: TypeRequest, Note: note, Next: now}); err != nil {
		return false, err
	}
	b.changed(username, StateOutgoing, note, "request")
	return b.flush(ctx, username)
}

// Accept accepts username's request.
func (b *Book) Accept(ctx context.Context, username string) (bool, error) {
	return b.answer(ctx, username, true)
}

// Decline declines username's request.
func (b *Book) Decline(ctx context.Context, username string) (bool, error) {
	return b.answer(ctx, username, false)
}

func (b *Book) answer(ctx context.Context, username string, yes bool) (bool, error) {
	b.hold(username)
	defer b.release(username)
	r, ok, err := b.get(ctx, username)
	if err != nil {
		return false, err
	}
	if !ok || r.State != StateIncoming {
		return false, fmt.Errorf("%w: %s has sent no request (see `peercall contacts`)", ErrState, username)
	}
	now := b.now()
	if yes {
		r.State, r.Updated = StateAccepted, now
		if err := b.cfg.Store.Put(ctx, r, &Outgoing{Username: username, Type: TypeAccept, Next: now}); err != nil {
			return false, err
		}
		b.changed(username, StateAccepted, r.Note, "accepted")
	} else {
		if err := b.cfg.Store.Delete(ctx, username, &Outgoing{Username: username, Type: TypeDecline, Next: now}); err != nil {
			return false, err
		}
		b.changed(username, "", "", "declined")
	}
	return b.flush(ctx, username)
}

// Block blocks username: their requests, presence and calls are dropped,
// and a contact they were stops seeing this user's status.
func (b *Book) Block(ctx context.Context, username string) error {
	b.hold(username)
	defer b.release(username)
	r, ok, err := b.get(ctx, username)
	if err != nil {
		return err
	}
	now := b.now()
	var out *Outgoing
	if ok && (r.State == StateAccepted || r.State == StateOutgoing) {
		out = &Outgoing{Username: username, Type: TypeRemove, Next: now}
	}
	if !ok {
		r.Added = now
	}
	r.State, r.Note, r.Updated = StateBlocked, "", now
	if err := b.cfg.Store.Put(ctx, r, out); err != nil {
		return err
	}
	b.forget(username)
	b.changed(username, StateBlocked, "", "blocked")
	if out != nil {
		_, _ = b.flush(ctx, username)
	}
	return nil
}

// Remove takes username off the list (a blocked user is unblocked); a
// contact or a request is withdrawn on their side too.
func (b *Book) Remove(ctx context.Context, username string) error {
	b.hold(username)
	defer b.release(username)
	r, ok, err := b.get(ctx, username)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w %q (see `peercall contacts`)", ErrNotFound, username)
	}
	var out *Outgoing
	if r.State == StateAccepted || r.State == StateOutgoing {
		out = &Outgoing{Username: username, Type: TypeRemove, Next: b.now()}
	}
	if err := b.cfg.Store.Delete(ctx, username, out); err != nil {
		return err
	}
	b.forget(username)
	b.changed(username, "", "", "removed")
	if out != nil {
		_, _ = b.flush(ctx, username)
	}
	return nil
}

// Decision is what to do with an incoming call.
type Decision struct {
	Ring bool
	// Busy: refused as busy (do not disturb) rather than declined.
	Busy bool
	// Detail is the reason the caller is told.
	Detail string
}

// Screen decides an incoming call from username: blocked users and, by
// contacts.calls_from, non-contacts are refused (a call may become a
// contact request); do not disturb answers busy.
func (b *Book) Screen(ctx context.Context, username string) Decision {
	r, ok, err := b.get(ctx, username)
	if err != nil {
		b.log.Warn("contact list unreadable; letting the call ring", "err", err)
		return Decision{Ring: true}
	}
	if ok && r.State == StateBlocked {
		return Decision{Detail: fmt.Sprintf("%s does not take calls from you", b.cfg.Self)}
	}
	if st, _ := b.Self(); st == DND {
		return Decision{Busy: true, Detail: fmt.Sprintf("busy: %s does not want to be disturbed", b.cfg.Self)}
	}
	if ok && r.State == StateAccepted || b.cfg.CallsFrom == CallsFromAnyone {
		return Decision{Ring: true}
	}
	detail := fmt.Sprintf("%s takes calls from contacts only; ask with `peercall contacts add %s`", b.cfg.Self, b.cfg.Self)
	if b.cfg.CallsFrom == CallsFromRequest {
		if !ok {
			now := b.now()
			note := "tried to call you"
			if err := b.cfg.Store.Put(ctx, Record{Username: username, State: StateIncoming, Note: note, Added: now, Updated: now}, nil); err == nil {
				b.changed(username, StateIncoming, note, "call")
			}
		}
		detail = fmt.Sprintf("%s takes calls from contacts only; your call is shown to them as a contact request", b.cfg.Self)
	}
	return Decision{Detail: detail}
}

// RecordCall adds an ended call to the history.
func (b *Book) RecordCall(ctx context.Context, c Call) error { return b.cfg.Store.AddCall(ctx, c) }

// History returns the latest limit calls, newest first.
func (b *Book) History(ctx context.Context, limit int) ([]Call, error) {
	return b.cfg.Store.History(ctx, limit)
}

// loop delivers the outbox when messages fall due or a contact connects,
// refreshes presence and turns an idle user away.
func (b *Book) loop() {
	defer b.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastRefresh := b.now()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-tick.C:
		case <-b.kick:
		case p := <-b.conns:
			b.connected(p)
		}
		b.deliverDue(b.ctx, "")
		now := b.now()
		if now.Sub(lastRefresh) >= b.cfg.Refresh {
			lastRefresh = now
			b.pushAll()
		}
		b.mu.Lock()
		idle := b.cfg.AwayAfter > 0 && b.chosen == Online && !b.autoAway && now.Sub(b.lastActive) >= b.cfg.AwayAfter
		if idle {
			b.autoAway = true
		}
		b.mu.Unlock()
		if idle {
			b.selfChanged()
		}
	}
}

// connected hurries the outbox of the contact whose node p connected.
func (b *Book) connected(p peer.ID) {
	recs, err := b.cfg.Store.List(b.ctx)
	if err != nil {
		return
	}
	for _, r := range recs {
		if r.PeerID == p.String() {
			_ = b.cfg.Store.Hurry(b.ctx, r.Username, b.now())
		}
	}
}

// hold keeps the outbox loop off username's messages while an operation
// queues one and delivers it itself (so that it learns the outcome).
func (b *Book) hold(username string) {
	b.outMu.Lock()
	b.flushing[username] = true
	b.outMu.Unlock()
}

func (b *Book) release(username string) {
	b.outMu.Lock()
	delete(b.flushing, username)
	b.outMu.Unlock()
}

// flush delivers username's waiting messages now: delivered reports
// whether nothing is left waiting; an unknown user is an error.
func (b *Book) flush(ctx context.Context, username string) (bool, error) {
	if err := b.deliverDue(ctx, username); err != nil {
		return false, err
	}
	n, err := b.cfg.Store.Pending(ctx, username)
	return err == nil && n == 0, err
}

// deliverDue sends the due outbox messages (only username's, when set).
// It returns the error of an unknown user.
func (b *Book) deliverDue(ctx context.Context, username string) error {
	b.outMu.Lock()
	defer b.outMu.Unlock()
	now := b.now()
	if username != "" {
		// A message asked for now is tried now, whatever its backoff.
		if err := b.cfg.Store.Hurry(ctx, username, now); err != nil {
			return err
		}
	}
	due, err := b.cfg.Store.Due(ctx, now, 32)
	if err != nil {
		b.log.Warn("outbox unreadable", "err", err)
		return nil
	}
	var unknown error
	for _, o := range due {
		if username != "" && o.Username != username || username == "" && b.flushing[o.Username] {
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		err := b.deliver(ctx, o)
		switch {
		case err == nil:
			_ = b.cfg.Store.Delivered(ctx, o.ID)
		case errors.Is(err, ErrUnknownUser):
			// Nobody will ever take it: drop the message and the request.
			_ = b.cfg.Store.Delivered(ctx, o.ID)
			if r, ok, _ := b.get(ctx, o.Username); ok && r.State == StateOutgoing {
				_ = b.cfg.Store.Delete(ctx, o.Username, nil)
				b.changed(o.Username, "", "", "unknown user")
			}
			if o.Username == username {
				unknown = fmt.Errorf("%w %q: check the spelling (`peercall users`)", ErrUnknownUser, o.Username)
			}
		default:
			wait := min(maxRetry, b.cfg.Retry<<min(o.Attempts, 16))
			_ = b.cfg.Store.Retry(ctx, o.ID, b.now().Add(wait))
			b.log.Debug("contacts message not delivered; will retry", "to", o.Username, "type", o.Type, "in", wait, "err", err)
		}
	}
	return unknown
}

// deliver sends one outbox message and takes the answer's presence.
func (b *Book) deliver(ctx context.Context, o Outgoing) error {
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	p, err := b.peerOf(ctx, o.Username)
	if err != nil {
		return err
	}
	ack, err := b.send(ctx, p, Message{Type: o.Type, Note: o.Note})
	if err != nil {
		return err
	}
	if ack.Refused {
		b.log.Info("contacts message refused by its recipient", "to", o.Username, "type", o.Type)
		return nil
	}
	if r, ok, _ := b.get(ctx, o.Username); ok && r.State == StateAccepted {
		b.notePeer(ctx, r, p)
		b.setLive(o.Username, ack.Status, ack.Mood)
		if o.Type == TypeAccept {
			b.push(r.Username)
		}
	}
	return nil
}

// peerOf is username's node: the one on record while connected, else a
// lookup.
func (b *Book) peerOf(ctx context.Context, username string) (peer.ID, error) {
	if r, ok, _ := b.get(ctx, username); ok && r.PeerID != "" {
		if id, err := peer.Decode(r.PeerID); err == nil && b.cfg.Host.Network().Connectedness(id) == network.Connected {
			return id, nil
		}
	}
	return b.cfg.Resolve(ctx, username)
}

func (b *Book) notePeer(ctx context.Context, r Record, p peer.ID) {
	if r.PeerID == p.String() {
		return
	}
	r.PeerID = p.String()
	_ = b.cfg.Store.Put(ctx, r, nil)
}

// send opens a stream to p, sends m with this node's certificate and
// reads the Ack.
func (b *Book) send(ctx context.Context, p peer.ID, m Message) (Message, error) {
	cert, err := b.cfg.Certificate()
	if err != nil {
		return Message{}, err
	}
	if m.Type == TypePresence && m.Status == "" {
		m.Status, m.Mood = b.visibleStatus()
	}
	m.Certificate = cert.Marshal()
	body, err := m.Marshal()
	if err != nil {
		return Message{}, err
	}
	s, err := b.cfg.Host.NewStream(network.WithAllowLimitedConn(ctx, "contacts"), p, protocol.ID(ProtocolID))
	if err != nil {
		return Message{}, fmt.Errorf("open %s to %s: %w", ProtocolID, p, err)
	}
	defer s.Close()
	dl, _ := ctx.Deadline()
	if dl.IsZero() {
		dl = time.Now().Add(streamTimeout)
	}
	_ = s.SetDeadline(dl)
	if err := wire.WriteFrame(s, body, MaxFrame); err != nil {
		_ = s.Reset()
		return Message{}, fmt.Errorf("send %v to %s: %w", m.Type, p, err)
	}
	_ = s.CloseWrite()
	data, err := wire.ReadFrame(s, MaxFrame, ErrMalformed)
	if err != nil {
		_ = s.Reset()
		return Message{}, fmt.Errorf("read the answer to %v from %s: %w", m.Type, p, err)
	}
	ack, err := Decode(data)
	if err == nil && ack.Type != TypeAck {
		err = fmt.Errorf("%w: %v instead of an ack", ErrMalformed, ack.Type)
	}
	if err != nil {
		_ = s.Reset()
		return Message{}, err
	}
	return ack, nil
}

// pushAll sends this user's status to every accepted contact, in the
// background (at most maxPushes at once).
func (b *Book) pushAll() {
	recs, err := b.accepted(b.ctx)
	if err != nil {
		return
	}
	for _, r := range recs {
		b.push(r.Username)
	}
}

// spawn runs f on a goroutine Close waits for, unless Close has begun.
func (b *Book) spawn(f func()) {
	b.goMu.Lock()
	defer b.goMu.Unlock()
	if b.closing {
		return
	}
	b.wg.Go(f)
}

func (b *Book) push(username string) {
	b.spawn(func() {
		select {
		case b.sem <- struct{}{}:
		case <-b.ctx.Done():
			return
		}
		defer func() { <-b.sem }()
		ctx, cancel := context.WithTimeout(b.ctx, pushTimeout)
		defer cancel()
		p, err := b.peerOf(ctx, username)
		if err == nil {
			var ack Message
			if ack, err = b.send(ctx, p, Message{Type: TypePresence}); err == nil {
				if r, ok, _ := b.get(ctx, username); ok && r.State == StateAccepted && !ack.Refused {
					b.notePeer(ctx, r, p)
					b.setLive(username, ack.Status, ack.Mood)
				}
				return
			}
		}
		if b.ctx.Err() == nil {
			b.log.Debug("presence not delivered", "contact", username, "err", err)
			if st, _, _ := b.presenceOf(username); st != Offline {
				b.setLive(username, Offline, "")
			}
		}
	})
}

// handleStream serves one incoming message.
func (b *Book) handleStream(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(streamTimeout))
	remote := s.Conn().RemotePeer()
	m, username, err := wire.Opening[Message]{What: "contacts message", Max: MaxFrame, Malformed: ErrMalformed, Logger: b.log,
		Decode: decodeOpening, Cert: func(m Message) []byte { return m.Certificate },
		Verify: func(cert []byte) (string, error) { return b.cfg.Verify(remote, cert) },
	}.Read(s, s, remote)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, streamTimeout)
	defer cancel()
	ack := Message{Type: TypeAck, Status: Offline}
	authorised, refused, err := b.take(ctx, username, remote, m)
	if err != nil {
		b.log.Warn("contacts message not stored", "from", username, "err", err)
		_ = s.Reset()
		return
	}
	if authorised {
		ack.Status, ack.Mood = b.visibleStatus()
	}
	ack.Refused = refused
	body, _ := ack.Marshal()
	_ = wire.WriteFrame(s, body, MaxFrame)
}

// take applies a message from username (certified, on peer p); authorised
// says whether they are now an accepted contact.
func (b *Book) take(ctx context.Context, username string, p peer.ID, m Message) (authorised, refused bool, err error) {
	r, ok, err := b.get(ctx, username)
	if err != nil {
		return false, false, err
	}
	now := b.now()
	if ok && r.State == StateBlocked {
		return false, false, nil // dropped, and the sender is not told why
	}
	r.Updated = now
	switch m.Type {
	case TypeRequest:
		switch {
		case ok && (r.State == StateAccepted || r.State == StateOutgoing):
			// They lost our acceptance, or both asked: accepted, and
			// they are told so.
			r.State, r.PeerID = StateAccepted, p.String()
			if err := b.cfg.Store.Put(ctx, r, &Outgoing{Username: username, Type: TypeAccept, Next: now}); err != nil {
				return false, false, err
			}
			b.changed(username, StateAccepted, r.Note, "accepted")
			b.kickOutbox()
			return true, false, nil
		default:
			if !ok {
				r.Added = now
			}
			r.State, r.Note, r.PeerID = StateIncoming, m.Note, p.String()
			if err := b.cfg.Store.Put(ctx, r, nil); err != nil {
				return false, false, err
			}
			b.changed(username, StateIncoming, m.Note, "request")
			return false, false, nil
		}
	case TypeAccept:
		if !ok || (r.State != StateOutgoing && r.State != StateAccepted) {
			return false, true, nil
		}
		was := r.State
		r.State, r.PeerID = StateAccepted, p.String()
		if err := b.cfg.Store.Put(ctx, r, nil); err != nil {
			return false, false, err
		}
		if was != StateAccepted {
			b.changed(username, StateAccepted, r.Note, "accepted")
		}
		b.push(username) // its answer carries their status
		return true, false, nil
	case TypeDecline:
		if !ok || r.State != StateOutgoing {
			return false, true, nil
		}
		if err := b.cfg.Store.Delete(ctx, username, nil); err != nil {
			return false, false, err
		}
		b.changed(username, "", "", "declined")
		return false, false, nil
	case TypeRemove:
		if !ok {
			return false, true, nil
		}
		if err := b.cfg.Store.Delete(ctx, username, nil); err != nil {
			return false, false, err
		}
		b.forget(username)
		b.changed(username, "", "", "removed")
		return false, false, nil
	case TypePresence:
		if !ok || r.State != StateAccepted {
			return false, true, nil
		}
		b.notePeer(ctx, r, p)
		b.setLive(username, m.Status, m.Mood)
		return true, false, nil
	}
	return false, false, nil
}

func (b *Book) kickOutbox() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}
