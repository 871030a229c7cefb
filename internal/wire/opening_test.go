package wire

import (
	"bytes"
	"errors"
	"testing"
)

type testStream struct{ reset, closed bool }

func (s *testStream) Reset() error { s.reset = true; return nil }
func (s *testStream) Close() error { s.closed = true; return nil }

type name string

func (n name) String() string { return string(n) }

var errTestMalformed = errors.New("malformed test message")

// TestOpening: a frame whose certificate checks gives the message and the
// user; a malformed frame, one over the limit and a bad certificate reset
// the stream; with Refuse, a bad certificate is answered instead.
func TestOpening(t *testing.T) {
	frame := func(body string) *bytes.Reader {
		var b bytes.Buffer
		if err := WriteFrame(&b, []byte(body), 100); err != nil {
			t.Fatal(err)
		}
		return bytes.NewReader(b.Bytes())
	}
	o := Opening[string]{What: "test stream", Max: 16, Malformed: errTestMalformed,
		Decode: func(b []byte) (string, error) {
			if b[0] != 'm' {
				return "", errTestMalformed
			}
			return string(b), nil
		},
		Cert: func(m string) []byte { return []byte(m[1:]) },
		Verify: func(cert []byte) (string, error) {
			if string(cert) != "alice" {
				return "", errors.New("not alice's")
			}
			return "alice", nil
		},
	}
	s := &testStream{}
	m, user, err := o.Read(s, frame("malice"), name("peer"))
	if err != nil || m != "malice" || user != "alice" || s.reset {
		t.Fatalf("good opening: %q %q %v (reset %v)", m, user, err, s.reset)
	}
	for _, body := range []string{"xalice", "mbob", "m-this-is-over-sixteen"} {
		s := &testStream{}
		if _, _, err := o.Read(s, frame(body), name("peer")); err == nil || !s.reset {
			t.Errorf("%q: err %v, reset %v; want an error and a reset", body, err, s.reset)
		}
	}
	var told error
	o.Refuse = func(err error) { told = err }
	s = &testStream{}
	if _, _, err := o.Read(s, frame("mbob"), name("peer")); err == nil || told == nil || s.reset {
		t.Errorf("refused opening: err %v, told %v, reset %v", err, told, s.reset)
	}
}
