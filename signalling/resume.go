package signalling

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// A call rides one stream, and the stream rides one libp2p connection.
// When a network change kills that connection (QUIC sent into a moment
// with no route), the call need not end: an active call whose stream
// breaks is detached (EventDetached) and held for Config.ResumeHold; the
// side that moved opens a new stream (Call.Resume) whose first message is
// RESUME with the call's ID, the peer answers RESUMED on it, and both
// sides carry on over the new stream (EventResumed). A RESUME is honoured
// only from the call's own peer (the stream's authenticated remote peer)
// for an active call; any other gets the stream closed. Either side may
// resume, detached or not: the old stream is closed then. An ICE restart
// pending on the old stream is forgotten on both sides (its offer or
// answer may be lost); the side that moved restarts again.

// ErrDetached is returned (wrapping ErrInvalidState, so that a retry loop
// waits for the RESUME) by a Call method that needs to send while the
// call's stream is broken.
var ErrDetached = fmt.Errorf("%w: the call's signalling stream broke; it waits for a RESUME", ErrInvalidState)

// reader is the goroutine reading one stream.
type reader struct {
	out  chan<- received
	quit chan struct{}
	done chan struct{}
}

// startReader starts reading c.conn for the loop.
func (c *Call) startReader(out chan<- received) reader {
	r := reader{out: out, quit: make(chan struct{}), done: make(chan struct{})}
	go c.read(c.conn, c.gen, out, r.quit, r.done)
	return r
}

// stop closes conn and waits for its reader.
func (r reader) stop(conn *Conn) {
	close(r.quit)
	_ = conn.Close()
	<-r.done
}

// detach holds the active call after its stream broke (loop only).
func (c *Call) detach(why string) {
	if c.holdTimer != nil {
		return
	}
	c.log.Info("signalling stream broke; holding the call for a RESUME", "why", why, "hold", c.m.cfg.ResumeHold)
	c.holdTimer = time.NewTimer(c.m.cfg.ResumeHold)
	c.emit(Event{Kind: EventDetached, Detail: why})
}

// detachedRefuses refuses a command that sends while the call is
// detached (loop only).
func (c *Call) detachedRefuses(cmd command) error {
	if c.holdTimer == nil {
		return nil
	}
	switch cmd.kind {
	case cmdRestartICE, cmdAnswerICERestart, cmdMediaState, cmdAccept, cmdCandidates, cmdEndOfCandidates:
		return ErrDetached
	}
	return nil
}

// adoptConn moves the call to conn (loop only): the old stream and its
// reader stop, a new reader starts, and the call is no longer detached.
func (c *Call) adoptConn(conn *Conn) {
	c.reader.stop(c.conn)
	c.conn = conn
	c.gen++
	c.reader = c.startReader(c.reader.out)
	stopTimer(&c.holdTimer)
	c.localRestart, c.remoteRestart = false, false
	c.log.Info("call resumed on a new stream")
	c.emit(Event{Kind: EventResumed})
}

// Resume moves the active call to a new stream to the peer (the side
// whose network changed calls it; Config.Dial opens the stream, over a
// new connection when the old one is gone). It returns once the peer
// answered RESUMED, or an error saying why not.
func (c *Call) Resume(ctx context.Context) error {
	if c.State() != StateActive {
		return fmt.Errorf("%w: Resume on a call that is %v", ErrInvalidState, c.State())
	}
	if c.m.cfg.Dial == nil {
		return errors.New("signalling: Config.Dial is nil: this manager cannot resume calls")
	}
	rw, err := c.m.cfg.Dial(ctx, c.remote)
	if err != nil {
		return fmt.Errorf("signalling: dial %s to resume call %v: %w", c.remote, c.id, err)
	}
	conn := NewConn(rw, c.m.cfg.MaxMessageSize)
	if err := c.resumeOn(ctx, conn); err != nil {
		_ = conn.Close()
		return err
	}
	if err := c.do(ctx, command{kind: cmdAdopt, conn: conn}); err != nil {
		_ = conn.Close()
		return err
	}
	return nil
}

// resumeOn sends RESUME on conn and waits for RESUMED. The old stream,
// which the peer has just closed, may detach the call meanwhile
// (EventDetached before EventResumed).
func (c *Call) resumeOn(ctx context.Context, conn *Conn) error {
	if err := conn.Send(ctx, Message{Type: TypeResume, CallID: c.id}); err != nil {
		return fmt.Errorf("signalling: send RESUME to %s: %w", c.remote, err)
	}
	m, err := conn.Receive(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("signalling: %s did not take call %v back (it may have ended it): %w", c.remote, c.id, err)
	case m.Type != TypeResumed || m.CallID != c.id:
		return fmt.Errorf("%w: %s answered RESUME with %v", ErrMalformed, c.remote, m)
	}
	return nil
}

// resume serves a stream opened with RESUME (HandleStream): the call
// moves to it when it is peer's active call.
func (m *Manager) resume(ctx context.Context, peer string, conn *Conn, msg Message) error {
	m.mu.Lock()
	c := m.calls[msg.CallID]
	m.mu.Unlock()
	if c == nil || c.remote != peer || c.State() != StateActive {
		return fmt.Errorf("%w: RESUME from %s for call %v, which is not an active call with it", ErrRefused, peer, msg.CallID)
	}
	// The loop answers RESUMED once it took the stream, so that the
	// mover closes the old stream only after that.
	sctx, cancel := context.WithTimeout(ctx, m.cfg.WriteTimeout)
	defer cancel()
	select {
	case c.adopt <- conn:
		return nil
	case <-c.done:
		return fmt.Errorf("%w: call %v ended while %s resumed it", ErrRefused, msg.CallID, peer)
	case <-sctx.Done():
		return fmt.Errorf("signalling: resume call %v: %w", msg.CallID, sctx.Err())
	}
}
