package signalling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"
)

// ErrInvalidState is returned by a Call method that the call's state does not
// allow (Accept on an outgoing call, RestartICE before the call is active, …).
var ErrInvalidState = errors.New("signalling: not allowed in the call's current state")

// ErrCallEnded is returned by a Call method on a call that is over.
var ErrCallEnded = errors.New("signalling: the call has ended")

// Call is one call, incoming or outgoing, and its state machine. It is
// created by a Manager; one goroutine (the loop) owns the state and is the
// only one that writes to the stream, and one reader goroutine feeds it the
// peer's messages. Both end when the call ends; Close waits for them.
type Call struct {
	m        *Manager
	id       CallID
	remote   string // remote peer ID
	outgoing bool
	conn     *Conn
	log      *slog.Logger

	// Incoming calls: what the INVITE said and the certificate check returned.
	offer       string
	username    string
	displayName string
	certificate []byte // outgoing: sent in the INVITE

	cmds     chan command
	adopt    chan *Conn // a stream the peer resumed the call on (resume.go)
	events   chan Event
	glare    chan struct{} // closed by the Manager: this outgoing call lost glare
	stop     chan struct{} // closed by Close/Manager.Close
	stopOnce sync.Once
	invited  chan error // outgoing: result of sending the INVITE
	done     chan struct{}

	mu     sync.Mutex
	state  State
	end    EndReason
	detail string

	// Owned by the loop goroutine.
	ringing       bool // outgoing: RINGING received
	localRestart  bool // we sent ICE_RESTART and await the answer
	remoteRestart bool // the peer sent ICE_RESTART and awaits our answer
	superseded    bool // guarded by m.mu, not c.mu
	ringTimer     *time.Timer
	mediaTimer    *time.Timer
	holdTimer     *time.Timer // running while detached: the stream broke (resume.go)
	reader        reader      // the goroutine reading conn
	gen           int         // counts streams: a message from an older one is dropped
	finalMsg      *Message
	endReason     EndReason
	endDetail     string

	// Trickle ICE (trickle.go): trickle is set before the loop starts.
	trickle     bool
	remoteCands chan RemoteCandidates
	localEOC    bool // owned by the loop
	remoteEOC   bool
	remoteCount int
}

type cmdKind uint8

const (
	cmdAccept cmdKind = iota + 1
	cmdReject
	cmdCancel
	cmdHangup
	cmdRestartICE
	cmdAnswerICERestart
	cmdMediaConnected
	cmdMediaState
	cmdAdopt
	cmdCandidates
	cmdEndOfCandidates
)

type command struct {
	kind   cmdKind
	sdp    string
	detail string
	lost   bool       // cmdHangup: the media path was lost (ReasonRelayLost)
	media  MediaState // cmdMediaState
	conn   *Conn      // cmdAdopt
	// cmdCandidates: local ICE candidate lines
	candidates []string
	reply      chan error
}

type received struct {
	msg Message
	err error
	gen int // the stream it came from (Call.gen)
}

func newCall(m *Manager, id CallID, remote string, outgoing bool, state State) *Call {
	c := &Call{
		m:        m,
		id:       id,
		remote:   remote,
		outgoing: outgoing,
		state:    state,
		cmds:     make(chan command),
		adopt:    make(chan *Conn),
		events:   make(chan Event, 16),
		glare:    make(chan struct{}),
		stop:     make(chan struct{}),
		invited:  make(chan error, 1),
		done:     make(chan struct{}),
		// Every accepted CANDIDATES holds a line, so MaxCallCandidates
		// of them and one END_OF_CANDIDATES never fill it.
		remoteCands: make(chan RemoteCandidates, MaxCallCandidates+1),
	}
	c.log = m.log.With("call", id.String(), "peer", remote, "outgoing", outgoing)
	return c
}

// ID returns the call's ID.
func (c *Call) ID() CallID { return c.id }

// RemotePeer returns the peer ID of the other side.
func (c *Call) RemotePeer() string { return c.remote }

// Offer returns the caller's SDP offer (incoming calls).
func (c *Call) Offer() string { return c.offer }

// RemoteUsername returns the username the certificate check returned for the
// caller (incoming calls).
func (c *Call) RemoteUsername() string { return c.username }

// DisplayName returns the caller's display name from the INVITE, if any
// (incoming calls). It is the caller's claim; show RemoteUsername beside it.
func (c *Call) DisplayName() string { return c.displayName }

// Events returns the call's events. It is closed after EventEnded. The owner
// should read it until then; the call's loop waits for a reader when 16
// events are pending.
func (c *Call) Events() <-chan Event { return c.events }

// Done is closed when the call has ended and its goroutines have stopped.
func (c *Call) Done() <-chan struct{} { return c.done }

// State returns the call's current state.
func (c *Call) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// End returns why the call ended (EndNone while it goes on).
func (c *Call) End() EndReason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.end
}

// EndDetail returns the free-text explanation of the end, if any: the peer's
// Detail, or a local error.
func (c *Call) EndDetail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.detail
}

// Accept answers a ringing incoming call with the SDP answer.
func (c *Call) Accept(ctx context.Context, answer string) error {
	return c.do(ctx, command{kind: cmdAccept, sdp: answer})
}

// Reject declines a ringing incoming call; detail is shown to the caller.
func (c *Call) Reject(ctx context.Context, detail string) error {
	return c.do(ctx, command{kind: cmdReject, detail: detail})
}

// Cancel gives up an outgoing call that has not been answered.
func (c *Call) Cancel(ctx context.Context) error {
	return c.do(ctx, command{kind: cmdCancel})
}

// Hangup ends the call whatever its state: it cancels an unanswered outgoing
// call, rejects a ringing incoming one and hangs up an active one. On an
// ended call it does nothing and returns nil.
func (c *Call) Hangup(ctx context.Context, detail string) error {
	err := c.do(ctx, command{kind: cmdHangup, detail: detail})
	if errors.Is(err, ErrCallEnded) {
		return nil
	}
	return err
}

// HangupRelayLost ends an active call because its media path (a relay)
// was lost and could not be replaced: both sides end with EndRelayLost and
// detail, which should name what was lost.
func (c *Call) HangupRelayLost(ctx context.Context, detail string) error {
	err := c.do(ctx, command{kind: cmdHangup, detail: detail, lost: true})
	if errors.Is(err, ErrCallEnded) {
		return nil
	}
	return err
}

// RestartICE sends a new SDP offer on an active call (the network path
// changed). The answer arrives as EventICERestartAnswer. If both sides
// restart at once, the caller's offer wins: the callee then receives
// EventICERestart and its own restart is dropped.
func (c *Call) RestartICE(ctx context.Context, offer string) error {
	return c.do(ctx, command{kind: cmdRestartICE, sdp: offer})
}

// AnswerICERestart answers the peer's EventICERestart offer.
func (c *Call) AnswerICERestart(ctx context.Context, answer string) error {
	return c.do(ctx, command{kind: cmdAnswerICERestart, sdp: answer})
}

// MediaConnected tells the call that media flows, which stops the media
// setup timer started when the call became active.
func (c *Call) MediaConnected(ctx context.Context) error {
	return c.do(ctx, command{kind: cmdMediaConnected})
}

// Close hangs the call up (reason: shutdown) if it goes on and waits for its
// goroutines to stop.
func (c *Call) Close() error {
	c.shutdown()
	<-c.done
	return nil
}

func (c *Call) shutdown() { c.stopOnce.Do(func() { close(c.stop) }) }

// do hands a command to the loop and waits for its result. The loop performs
// the action even if ctx ends while it is sending.
func (c *Call) do(ctx context.Context, cmd command) error {
	cmd.reply = make(chan error, 1)
	select {
	case c.cmds <- cmd:
	case <-c.done:
		return fmt.Errorf("%w (%v)", ErrCallEnded, c.End())
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	select {
	case err := <-cmd.reply:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (c *Call) setState(s State) {
	c.mu.Lock()
	c.state = s
	c.mu.Unlock()
}

// emit delivers an event, waiting for the owner if the buffer is full but
// never past a shutdown.
func (c *Call) emit(ev Event) {
	select {
	case c.events <- ev:
	case <-c.stop:
		select { // still deliver if there is room
		case c.events <- ev:
		default:
		}
	}
}

// send writes one message within the write timeout.
func (c *Call) send(m Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.m.cfg.WriteTimeout)
	defer cancel()
	m.CallID = c.id
	if err := c.conn.Send(ctx, m); err != nil {
		return fmt.Errorf("signalling: send %v to %s: %w", m.Type, c.remote, err)
	}
	return nil
}

// finish marks the call over: msg (if any) is sent to the peer as the loop
// exits.
func (c *Call) finish(reason EndReason, detail string, msg *Message) {
	if c.endReason != EndNone {
		return
	}
	c.endReason, c.endDetail, c.finalMsg = reason, detail, msg
}

// endMessage is the message that ends a call in state s from this side.
func (c *Call) endMessage(s State, r Reason, detail string) *Message {
	var t Type
	switch s {
	case StateInviting:
		t = TypeCancel
	case StateRinging:
		t = TypeReject
	case StateActive:
		t = TypeHangup
	default:
		return nil // INVITE never sent
	}
	detail = truncate(detail, MaxDetailSize)
	if checkText("detail", detail, MaxDetailSize, false) != nil {
		detail = ""
	}
	return &Message{Type: t, Reason: r, Detail: detail}
}

func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

func stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// run is the call's loop. It owns the state until the call ends.
func (c *Call) run() {
	defer c.m.wg.Done()
	incoming := make(chan received, 8)
	c.reader = c.startReader(incoming)

	c.begin()
	for c.endReason == EndNone {
		select {
		case cmd := <-c.cmds:
			cmd.reply <- c.handleCommand(cmd)
		case r := <-incoming:
			c.handleReceived(r)
		case <-timerC(c.ringTimer):
			c.ringTimer = nil
			s := c.State()
			c.log.Info("no answer in time", "timeout", c.m.cfg.RingTimeout)
			c.finish(EndNoAnswer, "", c.endMessage(s, ReasonTimeout, "no answer"))
		case <-timerC(c.mediaTimer):
			c.mediaTimer = nil
			c.log.Info("media not established in time", "timeout", c.m.cfg.MediaTimeout)
			c.finish(EndMediaTimeout, "", c.endMessage(StateActive, ReasonMediaFailed, "media setup timed out"))
		case <-c.glare:
			c.glare = nil // handled once
			if s := c.State(); s == StateInviting || s == StateIdle {
				c.finish(EndGlare, "", c.endMessage(s, ReasonGlare, ""))
			}
		case <-c.stop:
			c.finish(EndShutdown, "", c.endMessage(c.State(), ReasonShutdown, "shutting down"))
		case conn := <-c.adopt:
			c.adoptConn(conn)
			if err := c.send(Message{Type: TypeResumed}); err != nil {
				c.detach(err.Error())
			}
		case <-timerC(c.holdTimer):
			c.holdTimer = nil
			c.finish(EndConnectionLost, fmt.Sprintf("the signalling stream broke and the call was not resumed within %v", c.m.cfg.ResumeHold), nil)
		}
	}

	stopTimer(&c.ringTimer)
	stopTimer(&c.mediaTimer)
	stopTimer(&c.holdTimer)
	if c.finalMsg != nil {
		if err := c.send(*c.finalMsg); err != nil {
			c.log.Debug("final message not delivered", "err", err)
		}
	}
	c.reader.stop(c.conn)

	c.mu.Lock()
	c.state, c.end, c.detail = StateEnded, c.endReason, c.endDetail
	c.mu.Unlock()
	c.log.Info("call ended", "reason", c.endReason.String(), "detail", c.endDetail)
	c.m.remove(c)
	c.emit(Event{Kind: EventEnded, End: c.endReason, Detail: c.endDetail})
	close(c.events)
	close(c.remoteCands)
	close(c.done)
	select { // tell Manager.Call, if begin did not get to it
	case c.invited <- nil:
	default:
	}
}

// begin sends the first message: INVITE for an outgoing call, RINGING for an
// incoming one, and starts the ring timer.
func (c *Call) begin() {
	select {
	case <-c.glare:
		c.glare = nil
		c.finish(EndGlare, "", nil)
		return
	case <-c.stop:
		c.finish(EndShutdown, "", nil)
		return
	default:
	}
	var err error
	if c.outgoing {
		err = c.send(Message{Type: TypeInvite, Certificate: c.certificate, SDP: c.offer, DisplayName: c.displayName})
		if err == nil {
			c.setState(StateInviting)
		}
		c.invited <- err
	} else {
		err = c.send(Message{Type: TypeRinging})
	}
	if err != nil {
		c.finish(EndConnectionLost, err.Error(), nil)
		return
	}
	c.ringTimer = time.NewTimer(c.m.cfg.RingTimeout)
}

// read feeds the peer's messages on conn to the loop until the stream
// fails.
func (c *Call) read(conn *Conn, gen int, out chan<- received, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		m, err := conn.Receive(context.Background())
		select {
		case out <- received{m, err, gen}:
		case <-stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (c *Call) handleCommand(cmd command) error {
	s := c.State()
	if err := c.detachedRefuses(cmd); err != nil {
		return err
	}
	bad := func(what string) error {
		return fmt.Errorf("%w: %s on a call that is %v (%s)", ErrInvalidState, what, s, c.direction())
	}
	switch cmd.kind {
	case cmdAccept:
		if s != StateRinging {
			return bad("Accept")
		}
		if err := c.send(Message{Type: TypeAccept, SDP: cmd.sdp}); err != nil {
			if errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) {
				return err // the call goes on; fix the answer
			}
			c.finish(EndConnectionLost, err.Error(), nil)
			return err
		}
		c.becomeActive()
	case cmdReject:
		if s != StateRinging {
			return bad("Reject")
		}
		c.finish(EndRejected, cmd.detail, c.endMessage(s, ReasonDeclined, cmd.detail))
	case cmdCancel:
		if s != StateInviting {
			return bad("Cancel")
		}
		c.finish(EndCancelled, "", c.endMessage(s, ReasonNormal, ""))
	case cmdHangup:
		switch s {
		case StateInviting:
			c.finish(EndCancelled, cmd.detail, c.endMessage(s, ReasonNormal, cmd.detail))
		case StateRinging:
			c.finish(EndRejected, cmd.detail, c.endMessage(s, ReasonDeclined, cmd.detail))
		default:
			if cmd.lost {
				c.finish(EndRelayLost, cmd.detail, c.endMessage(s, ReasonRelayLost, cmd.detail))
				break
			}
			c.finish(EndHangupLocal, cmd.detail, c.endMessage(s, ReasonNormal, cmd.detail))
		}
	case cmdRestartICE:
		if s != StateActive || c.localRestart || c.remoteRestart {
			return bad("RestartICE (only on an active call with no restart pending)")
		}
		if err := c.send(Message{Type: TypeICERestart, SDP: cmd.sdp}); err != nil {
			return c.sendFailed(err)
		}
		c.localRestart = true
	case cmdAnswerICERestart:
		if s != StateActive || !c.remoteRestart {
			return bad("AnswerICERestart (only after EventICERestart)")
		}
		if err := c.send(Message{Type: TypeICERestartAnswer, SDP: cmd.sdp}); err != nil {
			return c.sendFailed(err)
		}
		c.remoteRestart = false
	case cmdMediaConnected:
		if s != StateActive {
			return bad("MediaConnected")
		}
		stopTimer(&c.mediaTimer)
	case cmdMediaState:
		if s != StateActive {
			return bad("SetMediaState (only on an active call)")
		}
		if err := c.send(Message{Type: TypeMediaState, Media: cmd.media}); err != nil {
			return c.sendFailed(err)
		}
	case cmdCandidates, cmdEndOfCandidates:
		return c.sendCandidates(s, cmd)
	case cmdAdopt:
		if s != StateActive {
			_ = cmd.conn.Close()
			return bad("Resume (only on an active call)")
		}
		c.adoptConn(cmd.conn)
	}
	return nil
}

// sendFailed ends the call if the stream broke; an invalid message (the
// caller's fault) leaves it going.
func (c *Call) sendFailed(err error) error {
	switch {
	case errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge):
	case c.State() == StateActive:
		c.detach(err.Error())
		return fmt.Errorf("%w: %w", ErrDetached, err)
	default:
		c.finish(EndConnectionLost, err.Error(), nil)
	}
	return err
}

func (c *Call) direction() string {
	if c.outgoing {
		return "outgoing"
	}
	return "incoming"
}

func (c *Call) becomeActive() {
	stopTimer(&c.ringTimer)
	c.setState(StateActive)
	c.mediaTimer = time.NewTimer(c.m.cfg.MediaTimeout)
}

func (c *Call) handleReceived(r received) {
	s := c.State()
	if r.gen != c.gen {
		return // from the stream the call left (RESUME)
	}
	if r.err != nil {
		if errors.Is(r.err, ErrMalformed) || errors.Is(r.err, ErrTooLarge) || errors.Is(r.err, ErrUnsupportedVersion) {
			c.protocolError(s, r.err.Error())
			return
		}
		detail := ""
		if !errors.Is(r.err, io.EOF) {
			detail = r.err.Error()
		}
		if s == StateActive {
			c.detach(detail)
			return
		}
		c.finish(EndConnectionLost, detail, nil)
		return
	}
	m := r.msg
	if m.CallID != c.id {
		c.protocolError(s, fmt.Sprintf("%v for call %v on the stream of call %v", m.Type, m.CallID, c.id))
		return
	}
	switch {
	case s == StateInviting && m.Type == TypeRinging && !c.ringing:
		c.ringing = true
		c.emit(Event{Kind: EventRemoteRinging})
	case s == StateInviting && m.Type == TypeAccept:
		c.becomeActive()
		c.emit(Event{Kind: EventAccepted, SDP: m.SDP})
	case s == StateInviting && m.Type == TypeBusy:
		c.finish(EndBusy, "", nil)
	case s == StateInviting && m.Type == TypeReject,
		s == StateRinging && m.Type == TypeCancel,
		s == StateActive && m.Type == TypeHangup:
		c.finish(endFromRemote(m), m.Detail, nil)
	case s == StateActive && m.Type == TypeCancel && !c.outgoing:
		// The caller cancelled while our ACCEPT was on its way.
		c.finish(endFromRemote(m), m.Detail, nil)
	case s == StateActive && m.Type == TypeICERestart:
		switch {
		case c.remoteRestart:
			c.protocolError(s, "second ICE_RESTART before the first was answered")
		case c.localRestart && c.outgoing:
			// Both restarted at once: the caller's offer wins, so the
			// callee will drop its own and answer ours.
			c.log.Debug("ignoring the callee's ICE restart: ours wins")
		default:
			c.localRestart = false
			c.remoteRestart = true
			c.emit(Event{Kind: EventICERestart, SDP: m.SDP})
		}
	case s == StateActive && m.Type == TypeICERestartAnswer && c.localRestart:
		c.localRestart = false
		c.emit(Event{Kind: EventICERestartAnswer, SDP: m.SDP})
	case s == StateActive && m.Type == TypeMediaState:
		c.emit(Event{Kind: EventMediaState, Media: m.Media})
	case m.Type == TypeCandidates || m.Type == TypeEndOfCandidates:
		c.receiveCandidates(s, m)
	default:
		c.protocolError(s, fmt.Sprintf("unexpected %v on a call that is %v (%s)", m.Type, s, c.direction()))
	}
}

func (c *Call) protocolError(s State, detail string) {
	c.log.Warn("protocol error, ending call", "detail", detail)
	c.finish(EndProtocolError, detail, c.endMessage(s, ReasonProtocolError, detail))
}

// truncate shortens s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
