package call

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peercall/peercall/media"
)

// Relay failover timing.
const (
	// failoverGiveUp is how long after a relayed call's path was lost it
	// may take to come back (through another super-node, after an ICE
	// restart) before the call ends with signalling.EndRelayLost.
	failoverGiveUp = 8 * time.Second
	// failoverPickTimeout bounds asking the next super-node for TURN
	// credentials.
	failoverPickTimeout = 3 * time.Second
	// failoverPingTimeout bounds the libp2p ping that tells a dead
	// super-node from a blip when no other super-node is available.
	failoverPingTimeout = time.Second
	// calleePingTimeout bounds the callee's check of its own super-node
	// before it answers the caller's restart: a live one answers at once.
	calleePingTimeout = 300 * time.Millisecond
	// ownRelayPingTimeout bounds the caller's check of its own super-node
	// when the path is lost: when it answers, the peer's relay (or the
	// path between) died, and the call restarts ICE at once through it
	// (the callee replaces its own relay before it answers) instead of
	// dropping a live relay and asking the others for credentials.
	ownRelayPingTimeout = 300 * time.Millisecond
	// calleeGiveUpExtra lets the caller, who drives the recovery and
	// knows why it failed, end the call first.
	calleeGiveUpExtra = 2 * time.Second
	// standbyWait is how long after a loss the caller lets the session
	// move to a standby pair (media.Session.HasStandby) before it
	// restarts ICE: a restart drops every pair, the standby too.
	standbyWait = time.Second
)

// failover is a relayed call's path recovery in progress: the path was
// lost at lostAt; the caller moves the call to another super-node.
type failover struct {
	lostAt time.Time
	dead   peer.ID // the super-node whose relay carried the call ("" if the peer's)
	timer  *time.Timer
	// why is set when the caller found no other super-node.
	why string
	// alive (callee only, with dead set) receives once whether dead
	// answered a ping started at the loss, so that the caller's restart
	// offer finds the answer ready; aliveOK caches it.
	alive   chan bool
	aliveOK *bool
	// restored is closed when the path came back: a restart still
	// waiting for the standby is not made.
	restored chan struct{}
}

// deadAnswers says whether the failover's super-node answers a ping: the
// one started at the loss when there is one, else a new one (false when
// ctx ends first).
func (r *run) deadAnswers(ctx context.Context, f *failover) bool {
	if f.aliveOK == nil {
		if f.alive == nil {
			return r.answersPing(ctx, f.dead, calleePingTimeout)
		}
		select {
		case ok := <-f.alive:
			f.aliveOK = &ok
		case <-ctx.Done():
			return false
		}
	}
	return *f.aliveOK
}

// failoverResult is what the caller's recovery goroutine reports.
type failoverResult struct {
	noRelay  string // set when no other super-node gave credentials
	deadGone bool   // with noRelay: the old super-node does not answer a ping either
	err      error  // the ICE restart could not be sent
}

// relayedRoute says whether the call's media went through a TURN relay
// (either side's).
func (r *run) relayedRoute() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.route.Kind == media.RouteRelay || r.relayID != ""
}

// noteRoute remembers the route ICE chose, for deciding on a loss whether
// the call was relayed (during the loss the selected pair may be gone).
func (r *run) noteRoute() {
	if r.sess == nil {
		return
	}
	rt := r.sess.Route()
	r.mu.Lock()
	if rt.Kind != media.RouteNone {
		r.route = rt
	}
	r.mu.Unlock()
}

// nextRelay asks another super-node than dead for TURN credentials and
// gives them to the session (used from the next ICE restart). It returns
// the new super-node, or an error naming why none gave any.
func (r *run) nextRelay(ctx context.Context, dead peer.ID, need bool) (peer.ID, error) {
	relays := r.m.cfg.Relays
	if relays == nil {
		return "", errors.New("this node runs no relay client")
	}
	ctx, cancel := context.WithTimeout(ctx, failoverPickTimeout)
	defer cancel()
	servers, relayID, err := relays.Replace(ctx, r.peerID, dead, need)
	if err != nil {
		return "", err
	}
	if err := r.sess.SetICEServers(servers); err != nil {
		return "", err
	}
	r.mu.Lock()
	r.relayID = relayID
	r.mu.Unlock()
	r.m.log.Info("call moves to another super-node", "call", r.sc.ID(), "lost", dead, "relay", relayID)
	return relayID, nil
}

// relayPeerID is the call summary's relay_peer_id: the super-node whose
// TURN relay carries the call. When this side's relay candidate was chosen
// it is the super-node that issued this side's credentials; when the
// peer's, the super-node this node knows at that relay's address; "" for
// a direct route, or a relay this node cannot name.
func (r *run) relayPeerID(rt media.Route) string {
	switch {
	case rt.Kind != media.RouteRelay:
		return ""
	case r.m.cfg.Relays != nil:
		// Named by its address first: a relay-only call may have moved to
		// its standby relay (media.Session.HasStandby).
		if id := r.m.cfg.Relays.SuperNodeAt(rt.RelayAddr); id != "" {
			return id.String()
		}
	}
	if rt.LocalRelay() && r.relayID != "" {
		return r.relayID.String()
	}
	return ""
}

// recoverPath runs on the caller when a relayed call's path was lost: it
// takes TURN credentials from another super-node when this side held a
// relay, then restarts ICE (a new offer through signalling). The answer
// comes back as EventICERestartAnswer to run's loop.
func (r *run) recoverPath(ctx context.Context, dead peer.ID) failoverResult {
	var res failoverResult
	if dead != "" && r.answersPing(ctx, dead, ownRelayPingTimeout) {
		r.m.log.Info("call path lost, but this side's super-node answers: restarting ICE through it", "call", r.sc.ID(), "relay", dead)
		dead = ""
	}
	if dead != "" {
		if _, err := r.nextRelay(ctx, dead, true); err != nil {
			res.noRelay = err.Error()
			if !r.answersPing(ctx, dead, failoverPingTimeout) {
				res.deadGone = true
				return res // no relay left: run's loop ends the call
			}
			// The old super-node still answers: the loss may have been
			// a blip; restart through it, and the give-up timer ends
			// the call if no path comes back.
		}
	}
	rctx, cancel := context.WithTimeout(ctx, failoverPickTimeout)
	defer cancel()
	offer, err := r.sess.RestartICEOffer(rctx)
	if err == nil {
		err = r.sc.RestartICE(rctx, offer)
	}
	if err == nil {
		r.m.log.Info("call path lost: failover ICE restart sent", "call", r.sc.ID())
	}
	res.err = err
	return res
}

// answersPing says whether super-node p answers a ping in time.
func (r *run) answersPing(ctx context.Context, p peer.ID, timeout time.Duration) bool {
	if p == r.m.cfg.Self || r.m.cfg.Relays == nil {
		return p == r.m.cfg.Self
	}
	return r.m.cfg.Relays.Alive(ctx, p, timeout)
}

// relayLostDetail says what was lost, for both sides' end of the call.
func relayLostDetail(f *failover, self peer.ID) string {
	who := "the relay"
	if f.dead != "" && f.dead != self {
		who = "super-node " + f.dead.String()
	}
	if f.why != "" {
		return fmt.Sprintf("%s stopped answering and no other super-node is available (%s)", who, f.why)
	}
	return fmt.Sprintf("%s stopped answering and the call found no new path within %v", who, failoverGiveUp)
}

// pathEvents is the session's path events, nil without a session.
func pathEvents(s *media.Session) <-chan media.PathEvent {
	if s == nil {
		return nil
	}
	return s.PathEvents()
}

// onPath handles a path event in run's loop and returns the failover in
// progress (nil when none). A loss on a relayed call starts one: the
// caller recovers (recoverPath, reporting to recovered), both sides start
// the give-up timer. A path back ends it.
func (r *run) onPath(ctx context.Context, pe media.PathEvent, fo *failover, recovered chan failoverResult, wg *sync.WaitGroup) *failover {
	if !pe.Lost {
		if fo == nil {
			r.noteRoute()
			return nil
		}
		fo.timer.Stop()
		close(fo.restored)
		gap := pe.At.Sub(fo.lostAt)
		r.noteRoute()
		r.mu.Lock()
		r.failovers++
		relayID := r.relayID
		r.mu.Unlock()
		r.m.log.Info("call path restored", "call", r.sc.ID(), "after_ms", gap.Milliseconds(), "relay", relayID, "route", r.sess.Route().String(), "switches", r.sess.PathSwitches())
		return nil
	}
	if fo != nil || !r.relayedRoute() {
		return fo // already recovering, or a direct call: ICE's own timers decide
	}
	r.mu.Lock()
	dead := r.relayID
	r.mu.Unlock()
	giveUp := failoverGiveUp
	if r.dir == Incoming {
		giveUp += calleeGiveUpExtra
	}
	fo = &failover{lostAt: pe.At, dead: dead, timer: time.NewTimer(giveUp - time.Since(pe.At)), restored: make(chan struct{})}
	r.m.log.Warn("call path lost", "call", r.sc.ID(), "ice", pe.State, "relay", dead, "direction", r.dir)
	if r.dir == Incoming && dead != "" {
		// Whether our own relay died decides how the caller's restart
		// offer is answered: ask now, not when it arrives.
		fo.alive = make(chan bool, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fo.alive <- r.answersPing(ctx, dead, calleePingTimeout)
		}()
	}
	if r.dir == Outgoing {
		var wait time.Duration
		if r.sess.HasStandby() {
			wait = standbyWait - time.Since(pe.At)
		}
		restored := fo.restored
		wg.Add(1)
		go func() {
			defer wg.Done()
			if wait > 0 {
				t := time.NewTimer(wait)
				defer t.Stop()
				r.m.log.Info("call path lost; waiting for the standby pair before an ICE restart", "call", r.sc.ID(), "wait", wait)
				select {
				case <-t.C:
				case <-restored:
					return // the session moved to its standby
				case <-ctx.Done():
					return
				}
			}
			res := r.recoverPath(ctx, dead)
			select {
			case recovered <- res:
			case <-ctx.Done():
			}
		}()
	}
	return fo
}
