package signalling

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// rawFrame is a hand-made frame: a length prefix and body.
func rawFrame(n uint32, body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, n), body...)
}

// TestProtocolErrorEndsCall: a peer that sends something malformed,
// oversized or out of place mid-call ends the call with EndProtocolError,
// and is told so (REJECT or HANGUP with reason "protocol error").
func TestProtocolErrorEndsCall(t *testing.T) {
	id := CallID{7: 7}
	good := func(m Message) []byte {
		m.CallID = id
		b, err := AppendMessage(nil, &m)
		if err != nil {
			t.Fatal(err)
		}
		return rawFrame(uint32(len(b)), b)
	}
	tests := []struct {
		name   string
		active bool   // accept first
		bytes  []byte // what the raw caller sends next
		reply  Type   // what it gets back
	}{
		{"oversized frame", false, rawFrame(MaxMessageSize+1, nil), TypeReject},
		{"garbage body", false, rawFrame(3, []byte{1, 2, 3}), TypeReject},
		{"unsupported version", false, rawFrame(18, body(2, TypeCancel, id)), TypeReject},
		{"unknown type", false, rawFrame(18, body(Version, 77, id)), TypeReject},
		{"ACCEPT from the caller", false, good(Message{Type: TypeAccept, SDP: "x"}), TypeReject},
		{"second INVITE", false, good(Message{Type: TypeInvite, Certificate: certFor(rawPeer), SDP: "x"}), TypeReject},
		{"HANGUP before accepted", false, good(Message{Type: TypeHangup}), TypeReject},
		{"other call id", false, func() []byte {
			b, _ := AppendMessage(nil, &Message{Type: TypeCancel, CallID: CallID{1}})
			return rawFrame(uint32(len(b)), b)
		}(), TypeReject},
		{"RINGING on an active call", true, good(Message{Type: TypeRinging}), TypeHangup},
		{"ICE answer without restart", true, good(Message{Type: TypeICERestartAnswer, SDP: "x"}), TypeHangup},
		{"garbage on an active call", true, rawFrame(1, []byte{0}), TypeHangup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLab(t, pipeTransport, nil)
				defer l.close()
				a, b := net.Pipe()
				l.wg.Add(1)
				go func() {
					defer l.wg.Done()
					l.nodes["bob"].HandleStream(ctx, rawPeer, b)
				}()
				raw := NewConn(a, 0)
				defer raw.Close()
				send(t, raw, Message{Type: TypeInvite, CallID: id, Certificate: certFor(rawPeer), SDP: "offer"})
				receive(t, raw, TypeRinging)
				bob := l.incoming("bob")
				if tt.active {
					accepted := async(func() error { return bob.Accept(ctx, "answer") })
					receive(t, raw, TypeAccept)
					if err := <-accepted; err != nil {
						t.Fatal(err)
					}
				}
				if _, err := a.Write(tt.bytes); err != nil {
					t.Fatalf("raw write: %v", err)
				}
				m := receive(t, raw, tt.reply)
				if m.Reason != ReasonProtocolError || m.Detail == "" {
					t.Fatalf("bob answered %v with detail %q, want reason protocol error and an explanation", m, m.Detail)
				}
				if _, err := raw.Receive(ctx); !errors.Is(err, io.EOF) {
					t.Fatalf("after the refusal: %v, want EOF", err)
				}
				expectEnd(t, bob, EndProtocolError)
			})
		})
	}
}

// TestBadFirstMessage: a stream that does not open with a valid INVITE in
// time is refused and never rings.
func TestBadFirstMessage(t *testing.T) {
	id := CallID{3: 3}
	tests := []struct {
		name  string
		bytes []byte // nil: send nothing
	}{
		{"garbage", rawFrame(4, []byte{1, 1, 1, 1})},
		{"oversized", rawFrame(1<<30, nil)},
		{"RINGING first", rawFrame(18, body(Version, TypeRinging, id))},
		{"INVITE without certificate", func() []byte {
			b := body(Version, TypeInvite, id, tagSDP, 1, 'v')
			return rawFrame(uint32(len(b)), b)
		}()},
		{"silence past the invite timeout", nil},
		{"stream closed", []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLab(t, pipeTransport, nil)
				defer l.close()
				a, b := net.Pipe()
				defer a.Close()
				res := async(func() error { return l.m("bob").HandleStream(ctx, rawPeer, b) })
				switch {
				case tt.bytes == nil:
					time.Sleep(DefaultConfig().InviteTimeout + time.Second)
				case len(tt.bytes) == 0:
					a.Close()
				default:
					a.Write(tt.bytes)
				}
				if err := <-res; !errors.Is(err, ErrRefused) {
					t.Fatalf("HandleStream = %v, want ErrRefused", err)
				}
				select {
				case c := <-l.m("bob").Incoming():
					t.Fatalf("bob rang for %v", c.ID())
				default:
				}
				if n := l.m("bob").ActiveCalls(); n != 0 {
					t.Fatalf("bob holds %d calls", n)
				}
			})
		})
	}
}

// TestCallerSideProtocolError: the callee sends something a callee never
// would; the caller cancels with reason protocol error.
func TestCallerSideProtocolError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLab(t, pipeTransport, nil)
		defer l.close()
		res := make(chan *Call, 1)
		go func() {
			c, err := l.m("alice").Call(ctx, rawPeer, Invite{Certificate: certFor("alice"), SDP: "offer"})
			if err != nil {
				t.Error(err)
			}
			res <- c
		}()
		raw := <-l.raw
		defer raw.Close()
		inv := receive(t, raw, TypeInvite)
		alice := <-res
		send(t, raw, Message{Type: TypeICERestartAnswer, CallID: inv.CallID, SDP: "x"})
		if m := receive(t, raw, TypeCancel); m.Reason != ReasonProtocolError {
			t.Fatalf("alice sent %v", m)
		}
		expectEnd(t, alice, EndProtocolError)
	})
}

// TestRemoteReasons: the reason a peer gives is the reason the local side
// ends with.
func TestRemoteReasons(t *testing.T) {
	tests := []struct {
		msg  Message
		want EndReason
	}{
		{Message{Type: TypeReject}, EndRejected},
		{Message{Type: TypeReject, Reason: ReasonDeclined}, EndRejected},
		{Message{Type: TypeReject, Reason: ReasonGlare}, EndGlare},
		{Message{Type: TypeReject, Reason: ReasonBadCertificate}, EndCertificateRejected},
		{Message{Type: TypeReject, Reason: ReasonTimeout}, EndNoAnswer},
		{Message{Type: TypeReject, Reason: ReasonShutdown}, EndShutdown},
		{Message{Type: TypeBusy}, EndBusy},
	}
	for _, tt := range tests {
		t.Run(tt.msg.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLab(t, pipeTransport, nil)
				defer l.close()
				res := make(chan *Call, 1)
				go func() {
					c, err := l.m("alice").Call(ctx, rawPeer, Invite{Certificate: certFor("alice"), SDP: "offer"})
					if err != nil {
						t.Error(err)
					}
					res <- c
				}()
				raw := <-l.raw
				defer raw.Close()
				inv := receive(t, raw, TypeInvite)
				alice := <-res
				tt.msg.CallID = inv.CallID
				tt.msg.Detail = ""
				send(t, raw, tt.msg)
				expectEnd(t, alice, tt.want)
			})
		})
	}
}

func TestConnDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		ca, cb := NewConn(a, 0), NewConn(b, 0)
		defer ca.Close()
		defer cb.Close()

		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		start := time.Now()
		_, err := cb.Receive(rctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 5*time.Second {
			t.Fatalf("Receive with a 5 s deadline: %v after %v", err, time.Since(start))
		}

		cctx, cancel := context.WithCancel(ctx)
		go func() { time.Sleep(time.Second); cancel() }()
		if _, err := cb.Receive(cctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Receive: %v", err)
		}

		// The stream still works: the deadlines were cleared.
		want := Message{Type: TypeRinging, CallID: testID}
		sent := async(func() error { return ca.Send(ctx, want) })
		got, err := cb.Receive(ctx)
		if err != nil || got.Type != want.Type || got.CallID != want.CallID {
			t.Fatalf("Receive after timeouts: %v, %v", got, err)
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}

		// Send respects its context the same way when nobody reads.
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := ca.Send(wctx, want); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send nobody reads: %v", err)
		}
	})
}

// noDeadlines is a stream without deadlines (io.Pipe halves).
type noDeadlines struct {
	io.Reader
	io.Writer
	close func() error
}

func (n noDeadlines) Close() error { return n.close() }

func TestConnWithoutDeadlinesClosesOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr, pw := io.Pipe()
		c := NewConn(noDeadlines{pr, io.Discard, func() error { return pr.Close() }}, 0)
		cctx, cancel := context.WithCancel(ctx)
		errc := async(func() error { _, err := c.Receive(cctx); return err })
		synctest.Wait() // Receive is blocked in Read
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Receive: %v, want context.Canceled", err)
		}
		if _, err := pw.Write([]byte{0}); !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("the stream was not closed: write gives %v", err)
		}
	})
}

func TestConnSizeLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		ca, cb := NewConn(a, 100), NewConn(b, 100)
		defer ca.Close()
		defer cb.Close()
		big := Message{Type: TypeAccept, CallID: testID, SDP: "v=0 " + string(bytesOf('a', 200))}
		if err := ca.Send(ctx, big); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Send over the limit: %v", err)
		}
		// A frame over the receiver's limit is refused without reading it.
		go a.Write(rawFrame(101, nil))
		if _, err := cb.Receive(ctx); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Receive over the limit: %v", err)
		}
	})
}

func bytesOf(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}
