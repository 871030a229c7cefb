package call

import (
	"testing"
	"time"

	"github.com/peercall/peercall/signalling"
)

// TestHoldState: a hold by either side stops sending and playing, a mute
// only this side's sending; the words and the wire flags follow.
func TestHoldState(t *testing.T) {
	for _, tc := range []struct {
		h          holdState
		send, play bool
		words      string
		wire       signalling.MediaState
	}{
		{holdState{}, true, true, "", 0},
		{holdState{muted: true}, false, true, "muted", signalling.MediaMuted},
		{holdState{peerMuted: true}, true, true, "muted by peer", 0},
		{holdState{held: true}, false, false, "held", signalling.MediaHeld},
		{holdState{peerHeld: true}, false, false, "held by peer", 0},
		{holdState{held: true, peerHeld: true, muted: true}, false, false, "held, held by peer, muted", signalling.MediaHeld | signalling.MediaMuted},
		{holdState{peerHeld: true, peerMuted: true}, false, false, "held by peer, muted by peer", 0},
	} {
		send, play := tc.h.audio()
		if send != tc.send || play != tc.play || tc.h.words() != tc.words || tc.h.wire() != tc.wire {
			t.Errorf("%+v: send %v play %v words %q wire %v; want %v %v %q %v", tc.h, send, play, tc.h.words(), tc.h.wire(), tc.send, tc.play, tc.words, tc.wire)
		}
	}
	for _, s := range []string{"mute", "unmute", "hold", "resume"} {
		if op, err := ParseMediaOp(s); err != nil || string(op) != s {
			t.Errorf("ParseMediaOp(%q) = %q, %v", s, op, err)
		}
	}
	for _, s := range []string{"", "Hold", "pause", "mute "} {
		if _, err := ParseMediaOp(s); err == nil {
			t.Errorf("ParseMediaOp(%q) accepted", s)
		}
	}
}

// TestHeldTime: the time on hold adds up over holds by either side and
// stops while the call plays.
func TestHeldTime(t *testing.T) {
	t0 := time.Now()
	if d := (holdState{total: time.Second, since: t0}).heldFor(t0.Add(2 * time.Second)); d != 3*time.Second {
		t.Errorf("held 1 s, then 2 s so far: %v, want 3s", d)
	}
	r := &run{}
	r.hold.held = true
	r.applyHoldLocked()
	if r.hold.since.IsZero() {
		t.Fatal("a hold did not start the clock")
	}
	r.hold.peerHeld = true // the peer holds too: still one hold
	r.applyHoldLocked()
	r.hold.held, r.hold.peerHeld = false, false
	r.applyHoldLocked()
	if !r.hold.since.IsZero() || r.hold.total <= 0 {
		t.Fatalf("after the resume: %+v, want the clock stopped and the time kept", r.hold)
	}
	kept := r.hold.total
	r.hold.muted = true // a mute is not a hold
	r.applyHoldLocked()
	if r.hold.heldFor(time.Now().Add(time.Hour)) != kept {
		t.Errorf("a mute counted as time on hold")
	}
}
