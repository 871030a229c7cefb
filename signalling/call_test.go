package signalling

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

var ctx = context.Background()

// TestFullCall: invite → ringing → accept → media up → hangup, over a pipe
// and over TCP loopback, with either side hanging up.
func TestFullCall(t *testing.T) {
	for _, tr := range []transport{pipeTransport, tcpTransport} {
		for _, hanger := range []string{"alice", "bob"} {
			t.Run(string(tr)+"/"+hanger+" hangs up", func(t *testing.T) {
				l := newLab(t, tr, nil)
				defer l.close()
				caller, callee := l.call("alice", "bob")
				if caller.State() != StateInviting || callee.State() != StateRinging {
					t.Fatalf("states %v/%v, want inviting/ringing", caller.State(), callee.State())
				}
				if callee.Offer() != "offer-from-alice" || callee.RemoteUsername() != "user-alice" ||
					callee.DisplayName() != "ALICE" || callee.RemotePeer() != "alice" || callee.ID() != caller.ID() {
					t.Fatalf("callee sees offer %q user %q name %q peer %q id %v",
						callee.Offer(), callee.RemoteUsername(), callee.DisplayName(), callee.RemotePeer(), callee.ID())
				}
				if err := callee.Accept(ctx, "answer-from-bob"); err != nil {
					t.Fatalf("Accept: %v", err)
				}
				if ev := expectEvent(t, caller, EventAccepted); ev.SDP != "answer-from-bob" {
					t.Fatalf("answer %q", ev.SDP)
				}
				for _, c := range []*Call{caller, callee} {
					if err := c.MediaConnected(ctx); err != nil {
						t.Fatalf("MediaConnected: %v", err)
					}
				}
				if caller.State() != StateActive || callee.State() != StateActive {
					t.Fatalf("states %v/%v, want active", caller.State(), callee.State())
				}
				local, remote := caller, callee
				if hanger == "bob" {
					local, remote = callee, caller
				}
				if err := local.Hangup(ctx, "bye now"); err != nil {
					t.Fatalf("Hangup: %v", err)
				}
				expectEnd(t, local, EndHangupLocal)
				if ev := expectEnd(t, remote, EndHangupRemote); ev.Detail != "bye now" {
					t.Fatalf("remote got detail %q", ev.Detail)
				}
				if n := l.m("alice").ActiveCalls() + l.m("bob").ActiveCalls(); n != 0 {
					t.Fatalf("%d calls still hold a slot", n)
				}
				if err := local.Hangup(ctx, ""); err != nil {
					t.Fatalf("Hangup on an ended call: %v", err)
				}
				if err := local.Accept(ctx, "x"); !errors.Is(err, ErrCallEnded) {
					t.Fatalf("Accept on an ended call: %v", err)
				}
			})
		}
	}
}

// TestCallNotAnswered covers calls that end before they are accepted.
func TestCallNotAnswered(t *testing.T) {
	tests := []struct {
		name         string
		act          func(t *testing.T, l *lab, caller, callee *Call)
		caller       EndReason
		callee       EndReason
		calleeDetail string
	}{
		{
			name: "reject",
			act: func(t *testing.T, l *lab, caller, callee *Call) {
				if err := callee.Reject(ctx, "in a meeting"); err != nil {
					t.Fatal(err)
				}
			},
			caller: EndRejected, callee: EndRejected,
		},
		{
			name: "cancel while ringing",
			act: func(t *testing.T, l *lab, caller, callee *Call) {
				if err := caller.Cancel(ctx); err != nil {
					t.Fatal(err)
				}
			},
			caller: EndCancelled, callee: EndCancelled,
		},
		{
			name: "hangup while ringing cancels",
			act: func(t *testing.T, l *lab, caller, callee *Call) {
				if err := caller.Hangup(ctx, ""); err != nil {
					t.Fatal(err)
				}
			},
			caller: EndCancelled, callee: EndCancelled,
		},
		{
			name: "no answer",
			act: func(t *testing.T, l *lab, caller, callee *Call) {
				time.Sleep(29 * time.Second) // fake time
				synctest.Wait()
				if caller.End() != EndNone || callee.End() != EndNone {
					t.Fatalf("ended before the 30 s ring timeout: %v/%v", caller.End(), callee.End())
				}
			},
			caller: EndNoAnswer, callee: EndNoAnswer,
		},
		{
			name: "caller's manager closes",
			act: func(t *testing.T, l *lab, caller, callee *Call) {
				l.m("alice").Close()
			},
			caller: EndShutdown, callee: EndShutdown,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLab(t, pipeTransport, nil)
				defer l.close()
				caller, callee := l.call("alice", "bob")
				tt.act(t, l, caller, callee)
				ev := expectEnd(t, caller, tt.caller)
				expectEnd(t, callee, tt.callee)
				if tt.name == "reject" && ev.Detail != "in a meeting" {
					t.Fatalf("caller got detail %q", ev.Detail)
				}
			})
		})
	}
}

func TestWrongStateActions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLab(t, pipeTransport, nil)
		defer l.close()
		caller, callee := l.call("alice", "bob")
		tests := []struct {
			name string
			err  error
		}{
			{"caller accepts", caller.Accept(ctx, "x")},
			{"caller rejects", caller.Reject(ctx, "")},
			{"callee cancels", callee.Cancel(ctx)},
			{"ICE restart before active", caller.RestartICE(ctx, "x")},
			{"answer without restart", callee.AnswerICERestart(ctx, "x")},
			{"media before active", callee.MediaConnected(ctx)},
		}
		for _, tt := range tests {
			if !errors.Is(tt.err, ErrInvalidState) {
				t.Errorf("%s: err = %v, want ErrInvalidState", tt.name, tt.err)
			}
		}
		if err := callee.Accept(ctx, "bad\x00answer"); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Accept with a NUL in the SDP: %v", err)
		}
		if callee.State() != StateRinging {
			t.Fatalf("an invalid answer ended the call: %v", callee.State())
		}
		caller.Hangup(ctx, "")
		expectEnd(t, caller, EndCancelled)
		expectEnd(t, callee, EndCancelled)
	})
}

// TestBusy: bob is in a call with carol; alice's call is answered BUSY and
// does not disturb it. Manager.Call refuses a second local call too.
func TestBusy(t *testing.T) {
	for _, state := range []string{"ringing", "active"} {
		t.Run("bob's call "+state, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLab(t, pipeTransport, nil)
				defer l.close()
				var carolCall, bobCall *Call
				if state == "ringing" {
					carolCall, bobCall = l.call("carol", "bob")
				} else {
					carolCall, bobCall = l.active("carol", "bob")
				}
				aliceCall, err := l.m("alice").Call(ctx, "bob", Invite{Certificate: certFor("alice"), SDP: "offer"})
				if err != nil {
					t.Fatal(err)
				}
				expectEnd(t, aliceCall, EndBusy)
				if err := l.handledFrom("alice"); !errors.Is(err, ErrRefused) {
					t.Fatalf("bob's HandleStream returned %v, want ErrRefused", err)
				}
				if _, err := l.m("bob").Call(ctx, "alice", Invite{Certificate: certFor("bob"), SDP: "offer"}); !errors.Is(err, ErrTooManyCalls) {
					t.Fatalf("bob places a second call: %v, want ErrTooManyCalls", err)
				}
				if _, err := l.m("carol").Call(ctx, "bob", Invite{Certificate: certFor("carol"), SDP: "offer"}); !errors.Is(err, ErrAlreadyInCall) {
					t.Fatalf("carol calls bob twice: %v, want ErrAlreadyInCall", err)
				}
				synctest.Wait()
				if bobCall.End() != EndNone || carolCall.End() != EndNone {
					t.Fatalf("the first call was disturbed: %v/%v", bobCall.End(), carolCall.End())
				}
				bobCall.Hangup(ctx, "")
				synctest.Wait()
				if l.m("bob").ActiveCalls() != 0 {
					t.Fatalf("bob still holds %d calls", l.m("bob").ActiveCalls())
				}
			})
		})
	}
}

// TestMaxCalls: with MaxCalls 2 bob can take a second call, not a third.
func TestMaxCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLab(t, pipeTransport, func(name string, c *Config) { c.MaxCalls = 2 })
		defer l.close()
		l.active("alice", "bob")
		l.call("carol", "bob")
		if n := l.m("bob").ActiveCalls(); n != 2 {
			t.Fatalf("bob holds %d calls, want 2", n)
		}
	})
}

func TestCertificateCheckFailureRejectsWithoutRinging(t *testing.T) {
	tests := []struct {
		name string
		cert []byte
	}{
		{"names another peer", certFor("carol")},
		{"garbage", []byte("xyz")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLab(t, pipeTransport, nil)
				defer l.close()
				c, err := l.m("alice").Call(ctx, "bob", Invite{Certificate: tt.cert, SDP: "offer"})
				if err != nil {
					t.Fatal(err)
				}
				ev := expectEnd(t, c, EndCertificateRejected)
				if ev.Detail == "" {
					t.Fatalf("the REJECT carried no explanation")
				}
				if err := l.handledFrom("alice"); !errors.Is(err, ErrRefused) {
					t.Fatalf("HandleStream returned %v, want ErrRefused", err)
				}
				select {
				case c := <-l.m("bob").Incoming():
					t.Fatalf("bob rang for a call with a bad certificate: %v", c.ID())
				default:
				}
			})
		})
	}
}

// TestConnectionLost: the stream breaks mid-call; both sides hold the
// call for ResumeHold (EventDetached), then end with "connection lost".
func TestConnectionLost(t *testing.T) {
	for _, tr := range []transport{pipeTransport, tcpTransport} {
		t.Run(string(tr), func(t *testing.T) {
			l := newLab(t, tr, func(_ string, c *Config) { c.ResumeHold = 50 * time.Millisecond })
			defer l.close()
			caller, callee := l.active("alice", "bob")
			l.lastStream("alice").Close() // under alice's call, as a network failure would
			expectEvent(t, caller, EventDetached)
			expectEvent(t, callee, EventDetached)
			if err := caller.RestartICE(context.Background(), "offer"); !errors.Is(err, ErrDetached) || !errors.Is(err, ErrInvalidState) {
				t.Errorf("RestartICE while detached: %v, want ErrDetached", err)
			}
			expectEnd(t, caller, EndConnectionLost)
			expectEnd(t, callee, EndConnectionLost)
		})
	}
}

// TestGlare: alice and bob call each other at the same moment. Both keep
// the call with the lower ID: it rings at its callee, and the other call
// ends with EndGlare on both sides.
func TestGlare(t *testing.T) {
	ids := map[string]CallID{"low": {1: 1}, "high": {1: 2}}
	tests := []struct{ alice, bob string }{
		{"low", "high"},
		{"high", "low"},
	}
	for _, tt := range tests {
		t.Run("alice "+tt.alice, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLab(t, pipeTransport, func(name string, c *Config) {
					switch name {
					case "alice":
						c.Rand = fixedRand(ids[tt.alice])
					case "bob":
						c.Rand = fixedRand(ids[tt.bob])
					}
				})
				defer l.close()
				// Neither dials before both calls are registered.
				arrived := make(chan struct{}, 2)
				release := make(chan struct{})
				l.dialHook = func(from, to string) {
					arrived <- struct{}{}
					<-release
				}
				type placed struct {
					c   *Call
					err error
				}
				results := map[string]chan placed{"alice": make(chan placed, 1), "bob": make(chan placed, 1)}
				for from, to := range map[string]string{"alice": "bob", "bob": "alice"} {
					go func() {
						c, err := l.m(from).Call(ctx, to, Invite{Certificate: certFor(from), SDP: "offer-from-" + from})
						results[from] <- placed{c, err}
					}()
				}
				<-arrived
				<-arrived
				close(release)
				a, b := <-results["alice"], <-results["bob"]
				if a.err != nil || b.err != nil {
					t.Fatalf("Call: %v / %v", a.err, b.err)
				}
				winner, loser, callee := a.c, b.c, "bob"
				if tt.alice == "high" {
					winner, loser, callee = b.c, a.c, "alice"
				}
				if winner.ID() != ids["low"] {
					t.Fatalf("test setup: winner has id %v", winner.ID())
				}
				expectEnd(t, loser, EndGlare)
				ringing := l.incoming(callee)
				if ringing.ID() != winner.ID() {
					t.Fatalf("%s rings for %v, want the winning call %v", callee, ringing.ID(), winner.ID())
				}
				expectEvent(t, winner, EventRemoteRinging)
				if err := ringing.Accept(ctx, "answer"); err != nil {
					t.Fatal(err)
				}
				expectEvent(t, winner, EventAccepted)
				winner.Hangup(ctx, "")
				expectEnd(t, winner, EndHangupLocal)
				expectEnd(t, ringing, EndHangupRemote)
				select {
				case c := <-l.m("alice").Incoming():
					t.Fatalf("alice also rang for %v", c.ID())
				case c := <-l.m("bob").Incoming():
					t.Fatalf("bob also rang for %v", c.ID())
				default:
				}
			})
		})
	}
}

type fixedRand CallID

func (f fixedRand) Read(p []byte) (int, error) { return copy(p, f[:]), nil }

func TestMediaTimeout(t *testing.T) {
	tests := []struct {
		name   string
		up     bool
		caller EndReason
		callee EndReason
	}{
		{"media never up", false, EndMediaTimeout, EndMediaTimeout},
		{"media up in time", true, EndHangupLocal, EndHangupRemote},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLab(t, pipeTransport, nil)
				defer l.close()
				caller, callee := l.active("alice", "bob")
				if tt.up {
					caller.MediaConnected(ctx)
					callee.MediaConnected(ctx)
				}
				time.Sleep(DefaultConfig().MediaTimeout + time.Second)
				if tt.up {
					caller.Hangup(ctx, "")
				}
				expectEnd(t, caller, tt.caller)
				expectEnd(t, callee, tt.callee)
			})
		})
	}
}

func TestICERestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLab(t, pipeTransport, nil)
		defer l.close()
		caller, callee := l.active("alice", "bob")

		// Each side restarts in turn.
		for i, pair := range [][2]*Call{{caller, callee}, {callee, caller}} {
			from, to := pair[0], pair[1]
			if err := from.RestartICE(ctx, "restart-offer"); err != nil {
				t.Fatalf("round %d: RestartICE: %v", i, err)
			}
			if err := from.RestartICE(ctx, "again"); !errors.Is(err, ErrInvalidState) {
				t.Fatalf("second RestartICE while one is pending: %v", err)
			}
			if ev := expectEvent(t, to, EventICERestart); ev.SDP != "restart-offer" {
				t.Fatalf("offer %q", ev.SDP)
			}
			if err := to.AnswerICERestart(ctx, "restart-answer"); err != nil {
				t.Fatal(err)
			}
			if ev := expectEvent(t, from, EventICERestartAnswer); ev.SDP != "restart-answer" {
				t.Fatalf("answer %q", ev.SDP)
			}
		}

		caller.Hangup(ctx, "")
		expectEnd(t, caller, EndHangupLocal)
		expectEnd(t, callee, EndHangupRemote)
	})
}

// TestICERestartGlare: both sides send ICE_RESTART before seeing the
// other's. The caller's offer wins on both sides. The peer is played by
// hand so the two offers really cross.
func TestICERestartGlare(t *testing.T) {
	t.Run("local callee drops its own", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newLab(t, pipeTransport, nil)
			defer l.close()
			raw := l.rawCall("bob")
			id := CallID{9: 9}
			send(t, raw, Message{Type: TypeInvite, CallID: id, Certificate: certFor(rawPeer), SDP: "offer"})
			receive(t, raw, TypeRinging)
			bob := l.incoming("bob")
			accepted := async(func() error { return bob.Accept(ctx, "answer") })
			receive(t, raw, TypeAccept)
			if err := <-accepted; err != nil {
				t.Fatal(err)
			}
			restarted := async(func() error { return bob.RestartICE(ctx, "callee-offer") })
			receive(t, raw, TypeICERestart)
			if err := <-restarted; err != nil {
				t.Fatal(err)
			}
			send(t, raw, Message{Type: TypeICERestart, CallID: id, SDP: "caller-offer"})
			if ev := expectEvent(t, bob, EventICERestart); ev.SDP != "caller-offer" {
				t.Fatalf("callee got offer %q", ev.SDP)
			}
			answered := async(func() error { return bob.AnswerICERestart(ctx, "callee-answer") })
			if m := receive(t, raw, TypeICERestartAnswer); m.SDP != "callee-answer" {
				t.Fatalf("answer %q", m.SDP)
			}
			if err := <-answered; err != nil {
				t.Fatal(err)
			}
			raw.Close()
			expectEvent(t, bob, EventDetached)
			expectEnd(t, bob, EndConnectionLost)
		})
	})
	t.Run("local caller ignores the callee's", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newLab(t, pipeTransport, nil)
			defer l.close()
			type placed struct {
				c   *Call
				err error
			}
			res := make(chan placed, 1)
			go func() {
				c, err := l.m("alice").Call(ctx, rawPeer, Invite{Certificate: certFor("alice"), SDP: "offer"})
				res <- placed{c, err}
			}()
			raw := <-l.raw
			inv := receive(t, raw, TypeInvite)
			p := <-res
			if p.err != nil {
				t.Fatal(p.err)
			}
			alice := p.c
			send(t, raw, Message{Type: TypeAccept, CallID: inv.CallID, SDP: "answer"})
			expectEvent(t, alice, EventAccepted)
			restarted := async(func() error { return alice.RestartICE(ctx, "caller-offer") })
			receive(t, raw, TypeICERestart)
			if err := <-restarted; err != nil {
				t.Fatal(err)
			}
			send(t, raw, Message{Type: TypeICERestart, CallID: inv.CallID, SDP: "callee-offer"})
			send(t, raw, Message{Type: TypeICERestartAnswer, CallID: inv.CallID, SDP: "callee-answer"})
			if ev := expectEvent(t, alice, EventICERestartAnswer); ev.SDP != "callee-answer" {
				t.Fatalf("caller got %v %q", ev.Kind, ev.SDP)
			}
			raw.Close()
			expectEvent(t, alice, EventDetached)
			expectEnd(t, alice, EndConnectionLost)
		})
	})
}

// async runs f in a goroutine and delivers its error.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// TestHangupRelayLost: a side that lost the media path (its relay) and
// could not replace it ends the call with EndRelayLost, and so does the
// peer, with the same detail, whichever side ends it.
func TestHangupRelayLost(t *testing.T) {
	for _, ender := range []string{"alice", "bob"} {
		t.Run(ender, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLab(t, pipeTransport, nil)
				defer l.close()
				caller, callee := l.call("alice", "bob")
				if err := callee.Accept(ctx, "answer"); err != nil {
					t.Fatal(err)
				}
				expectEvent(t, caller, EventAccepted)
				local, remote := caller, callee
				if ender == "bob" {
					local, remote = callee, caller
				}
				const detail = "super-node 12D3KooW stopped answering and no other super-node is available"
				if err := local.HangupRelayLost(ctx, detail); err != nil {
					t.Fatal(err)
				}
				for _, c := range []*Call{local, remote} {
					if ev := expectEnd(t, c, EndRelayLost); ev.Detail != detail {
						t.Fatalf("detail %q, want %q", ev.Detail, detail)
					}
				}
				if got := EndRelayLost.String(); got != "relay lost" {
					t.Fatalf("EndRelayLost reads %q", got)
				}
			})
		})
	}
}
