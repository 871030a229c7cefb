package chat

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestFrames: every frame type survives a round trip; bad ones are refused
// by name.
func TestFrames(t *testing.T) {
	good := []frame{
		{Type: typeHello, Cert: []byte("cert")},
		{Type: typeText, ID: [16]byte{1, 2}, Seq: 7, Sent: 1_700_000_000_000, Text: "hello\nworld\t✓"},
		{Type: typeRead, Seq: 9},
		{Type: typeTyping},
		{Type: typeAck, Result: ackThrottled, RetryMs: 1500, Reason: "slow down"},
		{Type: typeVoice, ID: [16]byte{3}, Seq: 2, Sent: 9, DurationMs: 20_000, Audio: bytes.Repeat([]byte{0x4f}, MaxVoice)},
	}
	for _, f := range good {
		b, err := f.marshal()
		if err != nil {
			t.Fatalf("marshal %+v: %v", f, err)
		}
		got, err := decodeFrame(b)
		if err != nil {
			t.Fatalf("decode %+v: %v", f, err)
		}
		if got.Type != f.Type || !bytes.Equal(got.Cert, f.Cert) || got.ID != f.ID || got.Seq != f.Seq || got.Sent != f.Sent ||
			got.Text != f.Text || !bytes.Equal(got.Audio, f.Audio) || got.DurationMs != f.DurationMs || got.Result != f.Result || got.RetryMs != f.RetryMs || got.Reason != f.Reason {
			t.Fatalf("round trip %+v -> %+v", f, got)
		}
	}
	text := func(s string) []byte {
		b := []byte{version, typeText}
		b = append(b, make([]byte, 16)...)
		b = appendU64(b, 1)
		b = appendU64(b, 5)
		b = append(b, byte(len(s)>>8), byte(len(s)))
		return append(b, s...)
	}
	voice := func(ms uint32, n int) []byte {
		b := []byte{version, typeVoice}
		b = append(b, make([]byte, 16)...)
		b = appendU64(b, 1)
		b = appendU64(b, 5)
		b = append(b, byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms), byte(n>>8), byte(n))
		return append(b, make([]byte, n)...)
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"version", []byte{2, typeTyping}, "version 2"},
		{"type", []byte{version, 99}, "unknown frame type"},
		{"trailing", []byte{version, typeTyping, 0}, "trailing"},
		{"control character", text("a\x00b"), "control character"},
		{"escape", text("a\x1bb"), "control character"},
		{"not utf-8", text("\xff"), "not UTF-8"},
		{"empty text", text(""), "want 1..4000"},
		{"too long", text(strings.Repeat("x", MaxText+1)), "want 1..4000"},
		{"seq 0", []byte{version, typeRead, 0, 0, 0, 0, 0, 0, 0, 0}, "sequence number 0"},
		{"ack result", []byte{version, typeAck, 9, 0, 0, 0, 0, 0}, "ack result 9"},
		{"huge", make([]byte, MaxFrame+1), "limit"},
		{"voice too long", voice(20_001, 10), "voice message of 20001 ms"},
		{"voice 0 ms", voice(0, 10), "voice message of 0 ms"},
		{"voice empty", voice(5, 0), "want 1..60000"},
		{"voice too large", voice(5, MaxVoice+1), "want 1..60000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeFrame(c.data)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("decode: %v, want %q", err, c.want)
			}
		})
	}
}

// FuzzDecodeFrame: the decoder never panics, and what it accepts encodes
// back to the same bytes.
func FuzzDecodeFrame(f *testing.F) {
	for _, fr := range []frame{
		{Type: typeHello, Cert: []byte("cert")},
		{Type: typeText, Seq: 1, Sent: 5, Text: "hi"},
		{Type: typeRead, Seq: 3},
		{Type: typeAck, Reason: "no"},
		{Type: typeVoice, Seq: 1, Sent: 5, DurationMs: 100, Audio: []byte("OggS")},
	} {
		b, _ := fr.marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := decodeFrame(data)
		if err != nil {
			return
		}
		b, err := fr.marshal()
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", fr, err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("re-encoded %x, was %x", b, data)
		}
	})
}
