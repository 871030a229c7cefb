package signalling

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestResume: alice's stream breaks mid-call (her network moved); both
// sides hold the call, alice resumes it on a new stream, and the call goes
// on over it: an ICE restart and a hang-up cross the new stream.
func TestResume(t *testing.T) {
	for _, tr := range []transport{pipeTransport, tcpTransport} {
		t.Run(string(tr), func(t *testing.T) {
			l := newLab(t, tr, nil)
			defer l.close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			alice, bob := l.active("alice", "bob")
			l.lastStream("alice").Close()
			expectEvent(t, alice, EventDetached)
			expectEvent(t, bob, EventDetached)
			if err := alice.Resume(ctx); err != nil {
				t.Fatalf("Resume: %v", err)
			}
			expectEvent(t, alice, EventResumed)
			expectEvent(t, bob, EventResumed)
			if err := alice.RestartICE(ctx, "new-offer"); err != nil {
				t.Fatalf("RestartICE after the resume: %v", err)
			}
			if ev := expectEvent(t, bob, EventICERestart); ev.SDP != "new-offer" {
				t.Fatalf("bob got offer %q", ev.SDP)
			}
			if err := bob.AnswerICERestart(ctx, "new-answer"); err != nil {
				t.Fatal(err)
			}
			if ev := expectEvent(t, alice, EventICERestartAnswer); ev.SDP != "new-answer" {
				t.Fatalf("alice got answer %q", ev.SDP)
			}
			if err := bob.Hangup(ctx, ""); err != nil {
				t.Fatal(err)
			}
			expectEnd(t, alice, EndHangupRemote)
			expectEnd(t, bob, EndHangupLocal)
		})
	}
}

// TestResumeLiveStream: a side may resume while its old stream still
// works (it cannot tell a dead QUIC connection from a quiet one); the old
// stream is closed, and nothing read from it later counts.
func TestResumeLiveStream(t *testing.T) {
	l := newLab(t, pipeTransport, nil)
	defer l.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	alice, bob := l.active("alice", "bob")
	if err := bob.Resume(ctx); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	// The mover may see its old stream close before it takes the new.
	if ev, _ := nextEvent(t, bob); ev.Kind == EventDetached {
		expectEvent(t, bob, EventResumed)
	} else if ev.Kind != EventResumed {
		t.Fatalf("bob got %v, want resumed", ev.Kind)
	}
	expectEvent(t, alice, EventResumed)
	if err := alice.SetMediaState(ctx, MediaMuted); err != nil {
		t.Fatal(err)
	}
	if ev := expectEvent(t, bob, EventMediaState); ev.Media != MediaMuted {
		t.Fatalf("bob got %v", ev.Media)
	}
	if err := alice.Hangup(ctx, ""); err != nil {
		t.Fatal(err)
	}
	expectEnd(t, bob, EndHangupRemote)
}

// TestResumeRefused: a RESUME is honoured only from the call's own peer,
// for an active call: carol cannot take alice's call with bob, nor can
// anyone resume an unknown call; the stream is closed and the call goes on.
func TestResumeRefused(t *testing.T) {
	l := newLab(t, pipeTransport, nil)
	defer l.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	alice, bob := l.active("alice", "bob")
	for _, tt := range []struct {
		from string
		id   CallID
	}{{"carol", alice.ID()}, {"alice", CallID{1: 7}}} {
		rw, err := l.dial(ctx, tt.from, "bob")
		if err != nil {
			t.Fatal(err)
		}
		c := NewConn(rw, 0)
		send(t, c, Message{Type: TypeResume, CallID: tt.id})
		if m, err := c.Receive(ctx); err == nil {
			t.Errorf("RESUME from %s for %v answered %v, want the stream closed", tt.from, tt.id, m)
		}
		c.Close()
		if err := l.handledFrom(tt.from); !errors.Is(err, ErrRefused) {
			t.Errorf("HandleStream of %s's RESUME returned %v, want ErrRefused", tt.from, err)
		}
	}
	if err := alice.SetMediaState(ctx, MediaHeld); err != nil {
		t.Fatal(err)
	}
	if ev := expectEvent(t, bob, EventMediaState); ev.Media != MediaHeld {
		t.Fatalf("bob got %v", ev.Media)
	}
}
