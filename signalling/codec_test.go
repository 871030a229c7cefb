package signalling

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

var testID = CallID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

const testSDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n" +
	"a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n"

// validMessages has one message of every type, with optional fields both
// present and absent.
func validMessages() []Message {
	return []Message{
		{Type: TypeInvite, CallID: testID, Certificate: []byte("cert-bytes"), SDP: testSDP, DisplayName: "Alice Ünïcode"},
		{Type: TypeInvite, CallID: testID, Certificate: []byte{0}, SDP: "v=0\r\n"},
		{Type: TypeRinging, CallID: testID},
		{Type: TypeAccept, CallID: testID, SDP: testSDP},
		{Type: TypeReject, CallID: testID, Reason: ReasonDeclined, Detail: "not now"},
		{Type: TypeReject, CallID: testID},
		{Type: TypeBusy, CallID: testID},
		{Type: TypeCancel, CallID: testID, Reason: ReasonGlare},
		{Type: TypeHangup, CallID: testID, Reason: ReasonNormal, Detail: "bye"},
		{Type: TypeICERestart, CallID: testID, SDP: testSDP},
		{Type: TypeICERestartAnswer, CallID: testID, SDP: testSDP},
		{Type: TypeMediaState, CallID: testID},
		{Type: TypeMediaState, CallID: testID, Media: MediaMuted | MediaHeld},
		{Type: TypeResume, CallID: testID},
		{Type: TypeResumed, CallID: testID},
		{Type: TypeCandidates, CallID: testID, Candidates: []string{testCandidate}},
		{Type: TypeCandidates, CallID: testID, Candidates: []string{testCandidate, "candidate:2 1 udp 1694498815 198.18.0.9 40000 typ srflx raddr 10.0.0.2 rport 50000"}},
		{Type: TypeEndOfCandidates, CallID: testID},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range validMessages() {
		t.Run(m.Type.String(), func(t *testing.T) {
			body, err := AppendMessage(nil, &m)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			got, err := DecodeMessage(body)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip changed the message:\n got %+v\nwant %+v", got, m)
			}
			var framed bytes.Buffer
			if err := WriteMessage(&framed, &m, 0); err != nil {
				t.Fatalf("write: %v", err)
			}
			if got, err := ReadMessage(&framed, 0); err != nil || !reflect.DeepEqual(got, m) {
				t.Fatalf("framed round trip: %+v, %v", got, err)
			}
		})
	}
}

// body builds a raw body: header then raw field bytes.
func body(version byte, typ Type, id CallID, fields ...byte) []byte {
	b := append([]byte{version, byte(typ)}, id[:]...)
	return append(b, fields...)
}

func TestDecodeRejects(t *testing.T) {
	ringing := body(Version, TypeRinging, testID)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"short header", ringing[:10], ErrMalformed},
		{"version 2", body(2, TypeRinging, testID), ErrUnsupportedVersion},
		{"version 0", body(0, TypeRinging, testID), ErrUnsupportedVersion},
		{"unknown type 0", body(Version, 0, testID), ErrMalformed},
		{"unknown type 11", body(Version, 11, testID), ErrMalformed},
		{"zero call id", body(Version, TypeRinging, CallID{}), ErrMalformed},
		{"trailing byte", append(ringing, 0), ErrMalformed},
		{"field on RINGING", body(Version, TypeRinging, testID, tagDetail, 1, 'x'), ErrMalformed},
		{"INVITE without sdp", body(Version, TypeInvite, testID, tagCertificate, 1, 'c'), ErrMalformed},
		{"INVITE without certificate", body(Version, TypeInvite, testID, tagSDP, 1, 'v'), ErrMalformed},
		{"ACCEPT without sdp", body(Version, TypeAccept, testID), ErrMalformed},
		{"ICE_RESTART without sdp", body(Version, TypeICERestart, testID), ErrMalformed},
		{"unknown tag", body(Version, TypeHangup, testID, 9, 1, 'x'), ErrMalformed},
		{"tag 0", body(Version, TypeHangup, testID, 0, 1, 'x'), ErrMalformed},
		{"repeated tag", body(Version, TypeHangup, testID, tagDetail, 1, 'x', tagDetail, 1, 'y'), ErrMalformed},
		{"tags out of order", body(Version, TypeHangup, testID, tagDetail, 1, 'x', tagReason, 1, 1), ErrMalformed},
		{"empty field", body(Version, TypeHangup, testID, tagDetail, 0), ErrMalformed},
		{"length past end", body(Version, TypeHangup, testID, tagDetail, 5, 'x'), ErrMalformed},
		{"missing length", body(Version, TypeHangup, testID, tagDetail), ErrMalformed},
		{"non-minimal varint", body(Version, TypeHangup, testID, tagDetail, 0x81, 0x00, 'x'), ErrMalformed},
		{"reason zero", body(Version, TypeHangup, testID, tagReason, 1, 0), ErrMalformed},
		{"reason unknown", body(Version, TypeHangup, testID, tagReason, 1, 200), ErrMalformed},
		{"reason two bytes", body(Version, TypeHangup, testID, tagReason, 2, 1, 1), ErrMalformed},
		{"detail invalid utf-8", body(Version, TypeHangup, testID, tagDetail, 2, 0xc3, 0x28), ErrMalformed},
		{"detail control char", body(Version, TypeHangup, testID, tagDetail, 2, 'a', '\n'), ErrMalformed},
		{"sdp with NUL", body(Version, TypeAccept, testID, tagSDP, 2, 'v', 0), ErrMalformed},
		{"sdp invalid utf-8", body(Version, TypeAccept, testID, tagSDP, 1, 0xff), ErrMalformed},
		{"detail too long", append(body(Version, TypeHangup, testID, tagDetail, 0x81, 0x02), bytes.Repeat([]byte{'x'}, 257)...), ErrMalformed},
		{"oversized body", make([]byte, MaxMessageSize+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeMessage(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeMessage = %+v, %v; want error %v", m, err, tt.want)
			}
		})
	}
}

func TestReadMessageLimits(t *testing.T) {
	frame := func(n uint32, b []byte) []byte {
		out := binary.BigEndian.AppendUint32(nil, n)
		return append(out, b...)
	}
	ringing := body(Version, TypeRinging, testID)
	tests := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"clean EOF", nil, 0, io.EOF},
		{"partial header", []byte{0, 0}, 0, io.ErrUnexpectedEOF},
		{"partial body", frame(uint32(len(ringing)), ringing[:5]), 0, io.ErrUnexpectedEOF},
		{"over MaxMessageSize", frame(MaxMessageSize+1, nil), 0, ErrTooLarge},
		{"over caller's max", frame(uint32(len(ringing)), ringing), 10, ErrTooLarge},
		{"huge length", frame(0xffffffff, nil), 0, ErrTooLarge},
		{"zero length", frame(0, nil), 0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadMessage(bytes.NewReader(tt.in), tt.max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadMessage error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name string
		m    Message
	}{
		{"zero id", Message{Type: TypeRinging}},
		{"unknown type", Message{Type: 42, CallID: testID}},
		{"sdp on BUSY", Message{Type: TypeBusy, CallID: testID, SDP: "v=0"}},
		{"certificate too big", Message{Type: TypeInvite, CallID: testID, SDP: "v=0", Certificate: make([]byte, MaxCertificateSize+1)}},
		{"display name newline", Message{Type: TypeInvite, CallID: testID, SDP: "v=0", Certificate: []byte{1}, DisplayName: "a\nb"}},
		{"unknown reason", Message{Type: TypeHangup, CallID: testID, Reason: 99}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := AppendMessage(nil, &tt.m); !errors.Is(err, ErrMalformed) {
				t.Fatalf("AppendMessage error = %v, want ErrMalformed", err)
			}
		})
	}
	big := Message{Type: TypeAccept, CallID: testID, SDP: strings.Repeat("a", MaxMessageSize)}
	if err := WriteMessage(io.Discard, &big, 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("WriteMessage of an oversized SDP = %v, want ErrTooLarge", err)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range validMessages() {
		b, err := AppendMessage(nil, &m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(body(Version, TypeHangup, testID, tagDetail, 0x81, 0x00, 'x'))
	f.Add(body(2, TypeRinging, testID))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := DecodeMessage(in)
		if err != nil {
			return
		}
		out, err := AppendMessage(nil, &m)
		if err != nil {
			t.Fatalf("decoded message does not re-encode: %v (%+v)", err, m)
		}
		// The decoder accepts only the canonical encoding, so the bytes
		// round-trip exactly, and so does the message.
		if !bytes.Equal(out, in) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", in, out)
		}
		m2, err := DecodeMessage(out)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("second decode: %+v, %v; want %+v", m2, err, m)
		}
	})
}

func FuzzReadMessage(f *testing.F) {
	for _, m := range validMessages() {
		var b bytes.Buffer
		if err := WriteMessage(&b, &m, 0); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		m, err := ReadMessage(r, 0)
		if err != nil {
			return
		}
		consumed := len(in) - r.Len()
		var out bytes.Buffer
		if err := WriteMessage(&out, &m, 0); err != nil {
			t.Fatalf("decoded message does not re-encode: %v", err)
		}
		if !bytes.Equal(out.Bytes(), in[:consumed]) {
			t.Fatalf("re-encoded frame differs from the one read")
		}
		m2, err := ReadMessage(&out, 0)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("second read: %+v, %v; want %+v", m2, err, m)
		}
	})
}

func BenchmarkEncodeDecodeInvite(b *testing.B) {
	m := Message{Type: TypeInvite, CallID: testID, Certificate: bytes.Repeat([]byte{0xab}, 300),
		SDP: strings.Repeat(testSDP, 10), DisplayName: "Alice"}
	buf, err := AppendMessage(nil, &m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendMessage(buf[:0], &m)
		if _, err := DecodeMessage(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf)), "bytes/msg")
}
