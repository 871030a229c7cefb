package contacts

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestMessageRoundTrip(t *testing.T) {
	cert := bytes.Repeat([]byte{7}, 200)
	for _, m := range []Message{
		{Type: TypeRequest, Certificate: cert, Note: "hi, it's alice from the choir"},
		{Type: TypeRequest, Certificate: cert},
		{Type: TypeAccept, Certificate: cert},
		{Type: TypeDecline, Certificate: cert},
		{Type: TypeRemove, Certificate: cert},
		{Type: TypePresence, Certificate: cert, Status: DND, Mood: "in a meeting ☕"},
		{Type: TypeAck, Status: Online},
		{Type: TypeAck, Status: Offline, Refused: true},
	} {
		b, err := m.Marshal()
		if err != nil {
			t.Fatalf("%v: %v", m.Type, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%v: decode: %v", m.Type, err)
		}
		if got.Type != m.Type || !bytes.Equal(got.Certificate, m.Certificate) || got.Note != m.Note ||
			got.Status != m.Status || got.Mood != m.Mood || got.Refused != m.Refused {
			t.Errorf("%v: got %+v, want %+v", m.Type, got, m)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	good, _ := Message{Type: TypePresence, Certificate: []byte{1, 2, 3}, Status: Away, Mood: "x"}.Marshal()
	ack, _ := Message{Type: TypeAck, Status: Online}.Marshal()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"version 2", append([]byte{2}, good[1:]...)},
		{"type 0", []byte{1, 0}},
		{"type 7", []byte{1, 7, 0, 1, 1}},
		{"no certificate", []byte{1, byte(TypeAccept), 0, 0}},
		{"certificate too long", append([]byte{1, byte(TypeAccept), 0x04, 0x01}, make([]byte, 1025)...)},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"status 0", []byte{1, byte(TypePresence), 0, 1, 9, 0, 0}},
		{"status 6", []byte{1, byte(TypePresence), 0, 1, 9, 6, 0}},
		{"control character in mood", []byte{1, byte(TypePresence), 0, 1, 9, 1, 1, '\n'}},
		{"refused flag 2", append([]byte{1, byte(TypeAck), 2}, ack[3:]...)},
		{"note too long", append([]byte{1, byte(TypeRequest), 0, 1, 9, 0x01, 0xf5}, []byte(strings.Repeat("a", 501))...)},
		{"over the frame limit", make([]byte, MaxFrame+1)},
	} {
		if _, err := Decode(tc.data); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", tc.name, err)
		}
	}
}

func TestMarshalRefuses(t *testing.T) {
	for _, m := range []Message{
		{Type: TypeAccept},
		{Type: TypeRequest, Certificate: []byte{1}, Note: strings.Repeat("a", MaxNote+1)},
		{Type: TypePresence, Certificate: []byte{1}, Status: "sleeping"},
		{Type: TypePresence, Certificate: []byte{1}, Status: Online, Mood: strings.Repeat("a", MaxMood+1)},
		{Type: 9, Certificate: []byte{1}},
	} {
		if _, err := m.Marshal(); err == nil {
			t.Errorf("%+v marshalled", m)
		}
	}
}

// FuzzDecode: Decode never panics, and what it accepts re-encodes to the
// same bytes (one encoding per message).
func FuzzDecode(f *testing.F) {
	for _, m := range []Message{
		{Type: TypeRequest, Certificate: []byte{1, 2}, Note: "hello"},
		{Type: TypePresence, Certificate: []byte{1}, Status: Away, Mood: "lunch"},
		{Type: TypeAck, Status: DND, Refused: true},
		{Type: TypeRemove, Certificate: []byte{3}},
	} {
		b, _ := m.Marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		b, err := m.Marshal()
		if err != nil {
			t.Fatalf("decoded %+v does not marshal: %v", m, err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("re-encoding differs:\n%x\n%x", data, b)
		}
	})
}
