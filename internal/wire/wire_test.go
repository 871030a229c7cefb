package wire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

var errBad = errors.New("bad test message")

func TestReaderFields(t *testing.T) {
	msg := []byte{'M', 'G', 1, 2, 0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 9, 3, 'a', 'b', 'c', 0, 2, 'h', 'i'}
	r := NewReader(msg, errBad)
	r.Expect([]byte("MG"), "a test message")
	r.Header(1, 2)
	if v := r.Uint16(); v != 0x0102 {
		t.Errorf("Uint16 = %#x", v)
	}
	if v := r.Uint64(); v != 9 {
		t.Errorf("Uint64 = %d", v)
	}
	if b := r.Bytes8(1, 3, "name"); string(b) != "abc" {
		t.Errorf("Bytes8 = %q", b)
	}
	if s := r.Text(r.Bytes16(0, 10, "text"), "text"); s != "hi" {
		t.Errorf("Text = %q", s)
	}
	if err := r.Finish(); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if r.Offset() != len(msg) || r.Len() != 0 {
		t.Errorf("offset %d len %d", r.Offset(), r.Len())
	}
}

func TestReaderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  []byte
		read func(r *Reader)
		want string
	}{
		{"truncated", []byte{1}, func(r *Reader) { r.Uint16() }, "truncated after 0 of 1 bytes"},
		{"magic", []byte("XX"), func(r *Reader) { r.Expect([]byte("MG"), "a test message") }, "is it a test message"},
		{"version", []byte{2, 1}, func(r *Reader) { r.Header(1, 1) }, "version 2, want 1"},
		{"type", []byte{1, 3}, func(r *Reader) { r.Header(1, 1) }, "message type 3, want 1"},
		{"length below min", []byte{0}, func(r *Reader) { r.Bytes8(1, 3, "name") }, "name of 0 bytes, want 1..3"},
		{"length above max", []byte{0, 4, 1, 2, 3, 4}, func(r *Reader) { r.Bytes16(1, 3, "url") }, "url of 4 bytes, want 1..3"},
		{"length past end", []byte{3, 'a'}, func(r *Reader) { r.Bytes8(1, 3, "name") }, "truncated"},
		{"not utf-8", []byte{1, 0xff}, func(r *Reader) { r.Text(r.Bytes8(0, 9, "msg"), "msg") }, "msg is not UTF-8"},
		{"control", []byte{1, '\n'}, func(r *Reader) { r.Text(r.Bytes8(0, 9, "msg"), "msg") }, "msg contains control character U+000A"},
		{"c1 control", []byte{2, 0xc2, 0x85}, func(r *Reader) { r.Text(r.Bytes8(0, 9, "msg"), "msg") }, "control character U+0085"},
		{"trailing", []byte{1, 2}, func(r *Reader) { r.Uint8() }, "1 trailing bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(tc.msg, errBad)
			tc.read(r)
			err := r.Finish()
			if !errors.Is(err, errBad) {
				t.Fatalf("err = %v, want one wrapping %v", err, errBad)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to say %q", err, tc.want)
			}
		})
	}
}

// The first error sticks: later reads return zero values and do not
// replace it.
func TestReaderFirstErrorSticks(t *testing.T) {
	r := NewReader([]byte{5}, errBad)
	r.Header(1, 1)
	first := r.Err()
	if first == nil {
		t.Fatal("no error after a truncated header")
	}
	if v := r.Uint64(); v != 0 {
		t.Errorf("Uint64 after an error = %d, want 0", v)
	}
	if b := r.Bytes(1); b != nil {
		t.Errorf("Bytes after an error = %v, want nil", b)
	}
	if r.Finish() != first {
		t.Errorf("Finish = %v, want the first error %v", r.Finish(), first)
	}
}

// Appending to a field never overwrites the next one.
func TestReaderBytesCapped(t *testing.T) {
	msg := []byte{1, 2, 3, 4}
	r := NewReader(msg, errBad)
	a := r.Bytes(2)
	_ = append(a, 9)
	if msg[2] != 3 {
		t.Fatalf("append to a field overwrote the message: %v", msg)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, []byte("hello"), 16); err != nil {
		t.Fatal(err)
	}
	if got := buf.Bytes(); !bytes.Equal(got, []byte{0, 5, 'h', 'e', 'l', 'l', 'o'}) {
		t.Fatalf("frame = %v", got)
	}
	body, err := ReadFrame(&buf, 16, errBad)
	if err != nil || string(body) != "hello" {
		t.Fatalf("ReadFrame = %q, %v", body, err)
	}
}

func TestFrameLimits(t *testing.T) {
	if err := WriteFrame(io.Discard, nil, 16); err == nil {
		t.Error("WriteFrame accepted an empty body")
	}
	if err := WriteFrame(io.Discard, make([]byte, 17), 16); err == nil {
		t.Error("WriteFrame accepted a body over the limit")
	}
	// A length over the limit is refused before the body is read: the
	// reader holds only the 2-byte prefix.
	r := bytes.NewReader([]byte{0xff, 0xff})
	if _, err := ReadFrame(r, 4096, errBad); !errors.Is(err, errBad) {
		t.Errorf("oversized length: err = %v, want one wrapping %v", err, errBad)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{0, 0}), 16, errBad); !errors.Is(err, errBad) {
		t.Errorf("zero length: err = %v, want one wrapping %v", err, errBad)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{0, 3, 1}), 16, errBad); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short body: err = %v, want io.ErrUnexpectedEOF", err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte{'M', 'G', 1, 2, 3, 'a', 'b', 'c'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(b, errBad)
		r.Expect([]byte("MG"), "x")
		r.Header(1, 2)
		r.Text(r.Bytes8(0, 255, "s"), "s")
		r.Bytes16(0, 1<<16-1, "b")
		r.Uint64()
		if err := r.Finish(); err != nil && !errors.Is(err, errBad) {
			t.Fatalf("error %v does not wrap the sentinel", err)
		}
		if r.Offset() > len(b) {
			t.Fatalf("offset %d past %d", r.Offset(), len(b))
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 2, 'h', 'i'})
	f.Fuzz(func(t *testing.T, b []byte) {
		body, err := ReadFrame(bytes.NewReader(b), 64, errBad)
		if err == nil && (len(body) == 0 || len(body) > 64 || !bytes.Equal(body, b[2:2+len(body)])) {
			t.Fatalf("ReadFrame(%v) = %v", b, body)
		}
	})
}
