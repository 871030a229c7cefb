package call

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/peercall/peercall/signalling"
)

// A network change (the node's addresses moved, docs/architecture.md
// "Network change") restarts ICE on every active call from the side that
// moved: a new offer with fresh credentials over signalling, answered
// with fresh candidates. Both sides show the call as StateReconnecting
// (EventReconnecting) until ICE connects again (EventReconnected); the
// DTLS session, and so the SAS, stay the same. pion's ICE restart drops
// every old candidate, local and remote, and closes the old sockets, so
// no stale candidate is reused.
const (
	// netRestartTimeout bounds making and sending one restart offer.
	netRestartTimeout = 5 * time.Second
	// netRestartRetry is how soon a restart refused because another was
	// pending (the peer's, or ours after an earlier change) is tried
	// again, at most netRestartTries times.
	netRestartRetry = 300 * time.Millisecond
	netRestartTries = 10
	// routeWait bounds the wait for a route to the peer after a change
	// (an address comes before its default route: sending the restart
	// offer before it fails the signalling stream), polled every
	// routePoll.
	routeWait = 2 * time.Second
	routePoll = 25 * time.Millisecond
)

// waitRoutable waits (at most routeWait) until the machine has a route to
// addr (host:port of the peer's end of the media path): connecting a UDP
// socket looks the route up and sends nothing.
func waitRoutable(ctx context.Context, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, routeWait)
	defer cancel()
	for {
		c, err := net.Dial("udp", net.JoinHostPort(host, port))
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(routePoll):
		}
	}
}

// NetworkChanged restarts ICE on every active call because this node's
// network changed (why says how, for the logs). It returns how many calls
// it restarted; it does not wait for their answers.
func (m *Manager) NetworkChanged(ctx context.Context, why string) int {
	m.mu.Lock()
	m.movedAt = time.Now()
	runs := make([]*run, 0, len(m.active))
	for _, r := range m.active {
		runs = append(runs, r)
	}
	m.mu.Unlock()
	n := 0
	for _, r := range runs {
		r.mu.Lock()
		ok := r.sess != nil && (r.state == StateActive || r.state == StateReconnecting)
		r.mu.Unlock()
		if !ok {
			continue
		}
		n++
		r.reconnecting(why)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			r.restartForMove(ctx, why)
		}()
	}
	return n
}

// restartForMove sends one restart offer, retrying while another restart
// is pending.
func (r *run) restartForMove(ctx context.Context, why string) {
	r.mu.Lock()
	remote, _, _ := strings.Cut(r.route.Remote, " ") // "address:port type"
	r.mu.Unlock()
	waitRoutable(ctx, remote)
	for try := 0; ; try++ {
		rctx, cancel := context.WithTimeout(ctx, netRestartTimeout)
		offer, err := r.sess.RestartICEOffer(rctx)
		if err == nil {
			err = r.sc.RestartICE(rctx, offer)
		}
		cancel()
		switch {
		case err == nil:
			r.m.log.Info("network changed: ICE restarted", "call", r.sc.ID(), "why", why)
			return
		case errors.Is(err, signalling.ErrCallEnded) || ctx.Err() != nil:
			return
		case errors.Is(err, signalling.ErrDetached) && try < netRestartTries:
			// The move broke the signalling stream: take the call over
			// to a new one, then send the restart on it.
			if !r.resumeSignalling(ctx) {
				return
			}
		case errors.Is(err, signalling.ErrInvalidState) && try < netRestartTries:
			select {
			case <-time.After(netRestartRetry):
			case <-ctx.Done():
				return
			case <-r.sc.Done():
				return
			}
		default:
			r.m.log.Warn("network changed, but the call's ICE restart failed; it ends if no path comes back", "call", r.sc.ID(), "err", err)
			return
		}
	}
}

// reconnecting marks the call as reconnecting (once until it is back).
func (r *run) reconnecting(why string) {
	r.mu.Lock()
	was := r.state
	if was == StateActive {
		r.state = StateReconnecting
		r.reconnects++
	}
	r.mu.Unlock()
	if was == StateActive {
		r.m.log.Info("call reconnecting", "call", r.sc.ID(), "why", why)
		r.emit(EventReconnecting, nil)
	}
}

// reconnected marks a reconnecting call as active again, when ICE works.
func (r *run) reconnected() {
	r.mu.Lock()
	was := r.state
	if was == StateReconnecting {
		r.state = StateActive
	}
	r.mu.Unlock()
	if was == StateReconnecting {
		r.m.log.Info("call reconnected", "call", r.sc.ID(), "route", r.sess.Route().String())
		r.emit(EventReconnected, nil)
	}
}

// Resume timing (signalling's RESUME, after a move broke the call's
// signalling stream).
const (
	// resumeAfterMove: a stream that breaks this soon after a network
	// change broke because of it, and this side resumes the call.
	resumeAfterMove = 15 * time.Second
	// resumeTryTimeout bounds one RESUME (a new libp2p connection and a
	// round trip); resumeRetry spaces the tries until signalling's hold
	// ends the call.
	resumeTryTimeout = 2 * time.Second
	resumeRetry      = 250 * time.Millisecond
)

// movedRecently says whether this node's network changed within
// resumeAfterMove.
func (m *Manager) movedRecently() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.movedAt.IsZero() && time.Since(m.movedAt) < resumeAfterMove
}

// resumeSignalling moves the call to a new signalling stream (RESUME),
// trying again until it works, the call ends (the peer's hold ran out) or
// ctx ends; one try at a time per call. It reports whether the call rides
// a working stream now.
func (r *run) resumeSignalling(ctx context.Context) bool {
	if !r.resuming.CompareAndSwap(false, true) {
		// Another goroutine resumes it: the caller retries its send a
		// moment later.
		select {
		case <-time.After(resumeRetry):
			return true
		case <-ctx.Done():
			return false
		}
	}
	defer r.resuming.Store(false)
	for {
		rctx, cancel := context.WithTimeout(ctx, resumeTryTimeout)
		err := r.sc.Resume(rctx)
		cancel()
		if err == nil {
			r.m.log.Info("call signalling resumed on a new stream", "call", r.sc.ID())
			return true
		}
		r.m.log.Info("resume the call's signalling", "call", r.sc.ID(), "err", err)
		select {
		case <-time.After(resumeRetry):
		case <-ctx.Done():
			return false
		case <-r.sc.Done():
			return false
		}
	}
}
