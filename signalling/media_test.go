package signalling

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"testing/synctest"
)

// TestMediaStateCodec: MEDIA_STATE is 21 bytes (header and one 1-byte
// field, written even when zero) and decodes only in that canonical form.
func TestMediaStateCodec(t *testing.T) {
	for _, st := range []MediaState{0, MediaMuted, MediaHeld, MediaMuted | MediaHeld} {
		m := Message{Type: TypeMediaState, CallID: testID, Media: st}
		b, err := AppendMessage(nil, &m)
		if err != nil {
			t.Fatalf("%v: encode: %v", st, err)
		}
		want := body(Version, TypeMediaState, testID, tagMedia, 1, byte(st))
		if !bytes.Equal(b, want) || len(b) != 21 {
			t.Fatalf("%v: encoded %x, want %x (21 bytes)", st, b, want)
		}
		got, err := DecodeMessage(b)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("%v: decoded %+v, %v", st, got, err)
		}
	}
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"no media field", body(Version, TypeMediaState, testID)},
		{"unknown bit", body(Version, TypeMediaState, testID, tagMedia, 1, 4)},
		{"all bits", body(Version, TypeMediaState, testID, tagMedia, 1, 0xff)},
		{"two bytes", body(Version, TypeMediaState, testID, tagMedia, 2, 1, 0)},
		{"empty field", body(Version, TypeMediaState, testID, tagMedia, 0)},
		{"detail beside it", body(Version, TypeMediaState, testID, tagDetail, 1, 'x', tagMedia, 1, 1)},
		{"media on HANGUP", body(Version, TypeHangup, testID, tagMedia, 1, 1)},
		{"media on RINGING", body(Version, TypeRinging, testID, tagMedia, 1, 0)},
		{"trailing byte", body(Version, TypeMediaState, testID, tagMedia, 1, 1, 0)},
		{"zero call id", body(Version, TypeMediaState, CallID{}, tagMedia, 1, 1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := DecodeMessage(tt.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeMessage = %+v, %v; want ErrMalformed", m, err)
			}
		})
	}
	for _, m := range []Message{
		{Type: TypeHangup, CallID: testID, Media: MediaHeld},
		{Type: TypeMediaState, CallID: testID, Media: 8},
		{Type: TypeMediaState, CallID: testID, Detail: "x"},
	} {
		if _, err := AppendMessage(nil, &m); !errors.Is(err, ErrMalformed) {
			t.Errorf("AppendMessage(%+v) = %v, want ErrMalformed", m, err)
		}
	}
}

// FuzzDecodeMediaState: whatever follows a MEDIA_STATE header, the decoder
// either refuses it or returns a message that re-encodes to the same bytes
// with only known flags.
func FuzzDecodeMediaState(f *testing.F) {
	f.Add([]byte{tagMedia, 1, 0})
	f.Add([]byte{tagMedia, 1, 3})
	f.Add([]byte{tagMedia, 1, 0x80})
	f.Add([]byte{tagMedia, 2, 1, 1})
	f.Add([]byte{tagReason, 1, 1, tagMedia, 1, 1})
	f.Fuzz(func(t *testing.T, fields []byte) {
		in := body(Version, TypeMediaState, testID, fields...)
		m, err := DecodeMessage(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if m.Type != TypeMediaState || !m.Media.valid() || m.Reason != ReasonNone || m.Detail != "" || m.SDP != "" {
			t.Fatalf("decoded %+v", m)
		}
		out, err := AppendMessage(nil, &m)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("re-encoded %x, %v; want %x", out, err, in)
		}
	})
}

// TestMediaStateExchange: on an active call either side's SetMediaState
// reaches the other as EventMediaState, repeated states too; before the
// call is active it is refused and nothing is sent.
func TestMediaStateExchange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLab(t, pipeTransport, nil)
		defer l.close()
		caller, callee := l.call("alice", "bob")
		if err := caller.SetMediaState(ctx, MediaHeld); !errors.Is(err, ErrInvalidState) {
			t.Fatalf("SetMediaState while inviting: %v, want ErrInvalidState", err)
		}
		if err := callee.Accept(ctx, "answer"); err != nil {
			t.Fatal(err)
		}
		expectEvent(t, caller, EventAccepted)
		for i, tt := range []struct {
			from, to *Call
			st       MediaState
		}{
			{caller, callee, MediaHeld},
			{callee, caller, MediaMuted},
			{caller, callee, MediaHeld | MediaMuted},
			{caller, callee, MediaHeld | MediaMuted}, // repeated
			{caller, callee, 0},
			{callee, caller, 0},
		} {
			if err := tt.from.SetMediaState(ctx, tt.st); err != nil {
				t.Fatalf("step %d: SetMediaState(%v): %v", i, tt.st, err)
			}
			if ev := expectEvent(t, tt.to, EventMediaState); ev.Media != tt.st {
				t.Fatalf("step %d: peer got %v, want %v", i, ev.Media, tt.st)
			}
		}
		if caller.State() != StateActive || callee.State() != StateActive {
			t.Fatalf("states %v/%v after media state changes, want active", caller.State(), callee.State())
		}
		caller.Hangup(ctx, "")
		expectEnd(t, caller, EndHangupLocal)
		expectEnd(t, callee, EndHangupRemote)
	})
}

// TestMediaStateOutOfState: a MEDIA_STATE before the call is accepted is a
// protocol error (the peer plays it by hand).
func TestMediaStateOutOfState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLab(t, pipeTransport, nil)
		defer l.close()
		raw := l.rawCall("bob")
		id := CallID{9: 7}
		send(t, raw, Message{Type: TypeInvite, CallID: id, Certificate: certFor(rawPeer), SDP: "offer"})
		receive(t, raw, TypeRinging)
		bob := l.incoming("bob")
		send(t, raw, Message{Type: TypeMediaState, CallID: id, Media: MediaHeld})
		if m := receive(t, raw, TypeReject); m.Reason != ReasonProtocolError {
			t.Fatalf("bob answered an early MEDIA_STATE with %v, want REJECT (protocol error)", m)
		}
		expectEnd(t, bob, EndProtocolError)
	})
}
