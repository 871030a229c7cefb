package call

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/peercall/peercall/signalling"
)

// MediaOp changes a call's mute or hold (`peercall mute|unmute|hold|resume`).
type MediaOp string

// Mute and hold operations.
const (
	// OpMute stops sending the microphone; the peer is told (it shows
	// "muted by peer") but mute is this side's alone.
	OpMute MediaOp = "mute"
	// OpUnmute sends the microphone again.
	OpUnmute MediaOp = "unmute"
	// OpHold puts the call on hold: neither side sends audio and both play
	// silence until this side resumes (the peer shows "held by peer").
	OpHold MediaOp = "hold"
	// OpResume takes this side's hold off (a hold by the peer stays).
	OpResume MediaOp = "resume"
)

// ParseMediaOp checks an operation's name.
func ParseMediaOp(s string) (MediaOp, error) {
	switch op := MediaOp(s); op {
	case OpMute, OpUnmute, OpHold, OpResume:
		return op, nil
	}
	return "", fmt.Errorf("%.20q is not mute, unmute, hold or resume", s)
}

// ErrNotActive: the call is not connected yet (or any more), so it has no
// audio to mute or hold.
var ErrNotActive = errors.New("call is not active")

// holdState is a call's mute and hold, both sides, and how long it has
// been on hold.
type holdState struct {
	muted, held         bool          // this side's
	peerMuted, peerHeld bool          // the peer's, from its MEDIA_STATE
	since               time.Time     // on hold (either side) since, zero when not
	total               time.Duration // on hold before since
}

// heldFor is how long the call has been on hold, by either side, until now.
func (h holdState) heldFor(now time.Time) time.Duration {
	if h.since.IsZero() {
		return h.total
	}
	return h.total + now.Sub(h.since)
}

// wire is this side's state as MEDIA_STATE carries it.
func (h holdState) wire() signalling.MediaState {
	var s signalling.MediaState
	if h.muted {
		s |= signalling.MediaMuted
	}
	if h.held {
		s |= signalling.MediaHeld
	}
	return s
}

// audio says whether the call sends the microphone and plays what it
// receives: a hold by either side stops both.
func (h holdState) audio() (send, play bool) {
	onHold := h.held || h.peerHeld
	return !onHold && !h.muted, !onHold
}

// words is the state as `status` shows it ("" when audio flows freely).
func (h holdState) words() string {
	var w []string
	if h.held {
		w = append(w, "held")
	}
	if h.peerHeld {
		w = append(w, "held by peer")
	}
	if h.muted {
		w = append(w, "muted")
	}
	if h.peerMuted {
		w = append(w, "muted by peer")
	}
	return strings.Join(w, ", ")
}

// applyHoldLocked hands the state to the media session (r.mu held).
func (r *run) applyHoldLocked() {
	onHold := r.hold.held || r.hold.peerHeld
	switch now := time.Now(); {
	case onHold && r.hold.since.IsZero():
		r.hold.since = now
	case !onHold && !r.hold.since.IsZero():
		r.hold.total += now.Sub(r.hold.since)
		r.hold.since = time.Time{}
	}
	if r.sess != nil {
		r.sess.SetAudio(r.hold.audio())
	}
}

// SetMedia mutes, unmutes, holds or resumes the active call id ("" for the
// only call) and tells the peer (MEDIA_STATE). Each operation is
// idempotent: holding a held call holds it still. It returns the call as
// it is after the change.
func (m *Manager) SetMedia(ctx context.Context, id string, op MediaOp) (Info, error) {
	if _, err := ParseMediaOp(string(op)); err != nil {
		return Info{}, err
	}
	r, err := m.find(id)
	if err != nil {
		return Info{}, err
	}
	// One change at a time per call, so that the peer gets the states in
	// the order they were set.
	r.holdMu.Lock()
	defer r.holdMu.Unlock()
	r.mu.Lock()
	if r.state != StateActive || r.sess == nil || r.connectedAt.IsZero() {
		st := r.state
		r.mu.Unlock()
		return Info{}, fmt.Errorf("%w: call %s is %s; %s works on a connected call", ErrNotActive, r.sc.ID(), st, op)
	}
	switch op {
	case OpMute:
		r.hold.muted = true
	case OpUnmute:
		r.hold.muted = false
	case OpHold:
		r.hold.held = true
	case OpResume:
		r.hold.held = false
	}
	r.applyHoldLocked()
	h := r.hold
	r.mu.Unlock()
	m.log.Info("call audio changed", "call", r.sc.ID(), "op", string(op), "state", h.words())
	err = r.sc.SetMediaState(ctx, h.wire())
	r.emit(EventMedia, nil)
	if err != nil {
		// The change holds here; the peer did not hear of it (its stream
		// broke, so the call is ending, or ctx ended).
		return r.info(), fmt.Errorf("%s applied here, but telling %s failed: %w", op, r.peerName, err)
	}
	return r.info(), nil
}

// onPeerMedia applies the peer's MEDIA_STATE; a repeat of the state in
// force changes nothing and is neither logged nor announced (a peer that
// repeats it in a loop fills no log).
func (r *run) onPeerMedia(s signalling.MediaState) {
	r.mu.Lock()
	if r.hold.peerMuted == s.Muted() && r.hold.peerHeld == s.Held() {
		r.mu.Unlock()
		return
	}
	r.hold.peerMuted, r.hold.peerHeld = s.Muted(), s.Held()
	r.applyHoldLocked()
	words := r.hold.words()
	r.mu.Unlock()
	r.m.log.Info("peer changed the call's audio", "call", r.sc.ID(), "peer", r.peerName, "state", words)
	r.emit(EventMedia, nil)
}

// holdFieldsLocked fills the mute and hold fields of ci (r.mu held).
func (r *run) holdFieldsLocked(ci *Info) {
	ci.Muted, ci.Held, ci.PeerMuted, ci.PeerHeld = r.hold.muted, r.hold.held, r.hold.peerMuted, r.hold.peerHeld
	ci.Audio = r.hold.words()
}
