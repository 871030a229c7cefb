package signalling

import (
	"bytes"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/protocol"
)

const testCandidate = "candidate:1 1 udp 2130706431 198.18.0.2 50000 typ host"

// trickleStream is a pipe end negotiated as ProtocolTrickle, as a libp2p
// stream would say.
type trickleStream struct{ net.Conn }

func (trickleStream) Protocol() protocol.ID { return ProtocolTrickle }

// TestCandidatesCodec: CANDIDATES holds 1..MaxCandidates lines of
// printable ASCII starting "candidate:", each within MaxCandidateSize;
// anything else is refused both ways.
func TestCandidatesCodec(t *testing.T) {
	field := func(v string) []byte {
		b := []byte{tagCandidates}
		b = appendUvarint(b, len(v))
		return append(b, v...)
	}
	long := "candidate:" + strings.Repeat("1", MaxCandidateSize)
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"no field", body(Version, TypeCandidates, testID)},
		{"empty line", body(Version, TypeCandidates, testID, field(testCandidate+"\n\n"+testCandidate)...)},
		{"trailing newline", body(Version, TypeCandidates, testID, field(testCandidate+"\n")...)},
		{"no prefix", body(Version, TypeCandidates, testID, field("1 1 udp 1 1.2.3.4 5 typ host")...)},
		{"prefix only", body(Version, TypeCandidates, testID, field("candidate:")...)},
		{"a= prefix", body(Version, TypeCandidates, testID, field("a="+testCandidate)...)},
		{"CR", body(Version, TypeCandidates, testID, field(testCandidate+"\r")...)},
		{"NUL", body(Version, TypeCandidates, testID, field(testCandidate+"\x00")...)},
		{"non-ASCII", body(Version, TypeCandidates, testID, field(testCandidate+"é")...)},
		{"too long", body(Version, TypeCandidates, testID, field(long)...)},
		{"too many", body(Version, TypeCandidates, testID, field(strings.Repeat(testCandidate+"\n", MaxCandidates)+testCandidate)...)},
		{"on END_OF_CANDIDATES", body(Version, TypeEndOfCandidates, testID, field(testCandidate)...)},
		{"on HANGUP", body(Version, TypeHangup, testID, field(testCandidate)...)},
		{"beside a detail", body(Version, TypeCandidates, testID, append([]byte{tagDetail, 1, 'x'}, field(testCandidate)...)...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := DecodeMessage(tt.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeMessage = %+v, %v; want ErrMalformed", m, err)
			}
		})
	}
	max := make([]string, MaxCandidates)
	for i := range max {
		max[i] = testCandidate
	}
	m := Message{Type: TypeCandidates, CallID: testID, Candidates: max}
	b, err := AppendMessage(nil, &m)
	if err != nil {
		t.Fatalf("MaxCandidates lines: %v", err)
	}
	if got, err := DecodeMessage(b); err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("MaxCandidates lines decode: %+v, %v", got, err)
	}
	for _, bad := range []Message{
		{Type: TypeCandidates, CallID: testID},
		{Type: TypeCandidates, CallID: testID, Candidates: append(max, testCandidate)},
		{Type: TypeCandidates, CallID: testID, Candidates: []string{long}},
		{Type: TypeCandidates, CallID: testID, Candidates: []string{""}},
		{Type: TypeEndOfCandidates, CallID: testID, Candidates: []string{testCandidate}},
		{Type: TypeAccept, CallID: testID, SDP: "x", Candidates: []string{testCandidate}},
	} {
		if _, err := AppendMessage(nil, &bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("AppendMessage(%+v) = %v, want ErrMalformed", bad, err)
		}
	}
}

func appendUvarint(b []byte, n int) []byte {
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}

// FuzzDecodeCandidates: whatever follows a CANDIDATES header, the decoder
// refuses it or returns lines within the limits that re-encode to the
// same bytes.
func FuzzDecodeCandidates(f *testing.F) {
	f.Add([]byte{tagCandidates, byte(len(testCandidate))})
	f.Add(append([]byte{tagCandidates, byte(len(testCandidate))}, testCandidate...))
	f.Add(append([]byte{tagCandidates, byte(2*len(testCandidate) + 1)}, testCandidate+"\n"+testCandidate...))
	f.Fuzz(func(t *testing.T, fields []byte) {
		in := body(Version, TypeCandidates, testID, fields...)
		m, err := DecodeMessage(in)
		if err != nil {
			return
		}
		if len(m.Candidates) == 0 || len(m.Candidates) > MaxCandidates {
			t.Fatalf("decoded %d candidates", len(m.Candidates))
		}
		for _, l := range m.Candidates {
			if len(l) > MaxCandidateSize || !strings.HasPrefix(l, "candidate:") || strings.ContainsAny(l, "\r\n\x00") {
				t.Fatalf("decoded candidate %q breaks the limits", l)
			}
		}
		out, err := AppendMessage(nil, &m)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("re-encoding: %v\n in %x\nout %x", err, in, out)
		}
	})
}

// expectCandidates waits for the next trickled entry on c.
func expectCandidates(t *testing.T, c *Call) RemoteCandidates {
	t.Helper()
	rc, ok := <-c.Candidates()
	if !ok {
		t.Fatalf("%s call: candidates channel closed (call ended %v)", c.direction(), c.End())
	}
	return rc
}

// TestTrickleCall: on a ProtocolTrickle stream both sides of an active call
// trickle candidates, which arrive in order, then END_OF_CANDIDATES; one
// more CANDIDATES after it is a protocol error that ends the call.
func TestTrickleCall(t *testing.T) {
	l := newLab(t, pipeTransport, nil)
	l.trickle = true
	defer l.close()
	caller, callee := l.call("alice", "bob")
	if !caller.Trickle() || !callee.Trickle() {
		t.Fatalf("Trickle() = %v/%v on a trickle stream", caller.Trickle(), callee.Trickle())
	}
	if err := caller.SendCandidates(ctx, []string{testCandidate}); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("SendCandidates before the answer: %v, want ErrInvalidState", err)
	}
	if err := callee.Accept(ctx, "answer-from-bob"); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, caller, EventAccepted)
	a := []string{testCandidate, "candidate:2 1 udp 1694498815 198.18.0.9 40000 typ srflx raddr 0.0.0.0 rport 0"}
	b := []string{"candidate:3 1 udp 16777215 198.18.1.1 3478 typ relay raddr 0.0.0.0 rport 0"}
	if err := caller.SendCandidates(ctx, a[:1]); err != nil {
		t.Fatal(err)
	}
	if err := callee.SendCandidates(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := caller.SendCandidates(ctx, a[1:]); err != nil {
		t.Fatal(err)
	}
	if err := caller.EndOfCandidates(ctx); err != nil {
		t.Fatal(err)
	}
	if err := caller.SendCandidates(ctx, a[:1]); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("SendCandidates after END_OF_CANDIDATES: %v, want ErrInvalidState", err)
	}
	var got []string
	for rc := expectCandidates(t, callee); !rc.End; rc = expectCandidates(t, callee) {
		got = append(got, rc.Lines...)
	}
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("callee received %q, want %q", got, a)
	}
	if rc := expectCandidates(t, caller); !reflect.DeepEqual(rc.Lines, b) {
		t.Fatalf("caller received %+v, want %q", rc, b)
	}
	// bob's side breaks the rule: CANDIDATES after its END_OF_CANDIDATES.
	if err := callee.EndOfCandidates(ctx); err != nil {
		t.Fatal(err)
	}
	if rc := expectCandidates(t, caller); !rc.End {
		t.Fatalf("caller got %+v, want END_OF_CANDIDATES", rc)
	}
	callee.localEOC = false // owned by the loop, which is idle here
	if err := callee.SendCandidates(ctx, b); err != nil {
		t.Fatal(err)
	}
	expectEnd(t, caller, EndProtocolError)
	expectEnd(t, callee, EndProtocolError)
}

// TestTrickleOldStream: on a ProtocolID stream (a peer without trickle
// ICE) SendCandidates is refused locally, and CANDIDATES from the peer is
// a protocol error.
func TestTrickleOldStream(t *testing.T) {
	l := newLab(t, pipeTransport, nil)
	defer l.close()
	caller, callee := l.active("alice", "bob")
	if caller.Trickle() || callee.Trickle() {
		t.Fatal("Trickle() on a plain stream")
	}
	if err := callee.SendCandidates(ctx, []string{testCandidate}); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("SendCandidates on a plain stream: %v, want ErrInvalidState", err)
	}
	callee.trickle = true // as a broken peer would: the caller must refuse it
	if err := callee.SendCandidates(ctx, []string{testCandidate}); err != nil {
		t.Fatal(err)
	}
	expectEnd(t, caller, EndProtocolError)
	expectEnd(t, callee, EndProtocolError)
}

// TestTrickleLimit: more than MaxCallCandidates trickled candidates in a
// call is a protocol error.
func TestTrickleLimit(t *testing.T) {
	l := newLab(t, pipeTransport, nil)
	l.trickle = true
	defer l.close()
	caller, callee := l.active("alice", "bob")
	batch := make([]string, MaxCandidates)
	for i := range batch {
		batch[i] = testCandidate
	}
	for i := 0; i < MaxCallCandidates/MaxCandidates; i++ {
		if err := caller.SendCandidates(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if rc := expectCandidates(t, callee); len(rc.Lines) != MaxCandidates {
			t.Fatalf("batch %d: %d lines", i, len(rc.Lines))
		}
	}
	if err := caller.SendCandidates(ctx, batch[:1]); err != nil {
		t.Fatal(err)
	}
	expectEnd(t, callee, EndProtocolError)
	expectEnd(t, caller, EndProtocolError)
}
