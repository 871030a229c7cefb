package wire

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
)

// Reader reads big-endian fields from one message. The first read that runs
// past the end, or the first failed check, records an error wrapping the
// sentinel given to NewReader; every later read returns zero values, so a
// decoder reads all its fields and looks at Err (or Finish) once.
type Reader struct {
	s         cryptobyte.String
	total     int
	err       error
	malformed error
}

// NewReader returns a reader over b whose errors wrap malformed.
func NewReader(b []byte, malformed error) *Reader {
	return &Reader{s: cryptobyte.String(b), total: len(b), malformed: malformed}
}

// Failf records an error (the first one only) wrapping the sentinel.
func (r *Reader) Failf(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), r.malformed)
	}
}

// Err is the first error, or nil.
func (r *Reader) Err() error { return r.err }

// Offset is how many bytes have been read.
func (r *Reader) Offset() int { return r.total - len(r.s) }

// Len is how many bytes are left.
func (r *Reader) Len() int { return len(r.s) }

func (r *Reader) short(n int) {
	r.Failf("truncated after %d of %d bytes (a field needs %d)", r.Offset(), r.total, n)
}

// Bytes reads n bytes. The result aliases the message, with its capacity
// capped so that appending to it cannot overwrite what follows; copy it to
// keep it beyond the message's life.
func (r *Reader) Bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	var v []byte
	if n < 0 || !r.s.ReadBytes(&v, n) {
		r.short(n)
		return nil
	}
	return v[:n:n]
}

// Uint8 reads one byte.
func (r *Reader) Uint8() uint8 {
	var v uint8
	if r.err == nil && !r.s.ReadUint8(&v) {
		r.short(1)
	}
	return v
}

// Uint16 reads a big-endian uint16.
func (r *Reader) Uint16() uint16 {
	var v uint16
	if r.err == nil && !r.s.ReadUint16(&v) {
		r.short(2)
	}
	return v
}

// Uint64 reads a big-endian uint64.
func (r *Reader) Uint64() uint64 {
	var v uint64
	if r.err == nil && !r.s.ReadUint64(&v) {
		r.short(8)
	}
	return v
}

// Bytes8 reads a 1-byte length, checks it lies in min..max, and reads that
// many bytes; what names the field in the error.
func (r *Reader) Bytes8(min, max int, what string) []byte {
	n := int(r.Uint8())
	return r.sized(n, min, max, what)
}

// Bytes16 reads a 2-byte length, checks it lies in min..max, and reads that
// many bytes.
func (r *Reader) Bytes16(min, max int, what string) []byte {
	n := int(r.Uint16())
	return r.sized(n, min, max, what)
}

func (r *Reader) sized(n, min, max int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < min || n > max {
		r.Failf("%s of %d bytes, want %d..%d", what, n, min, max)
		return nil
	}
	return r.Bytes(n)
}

// Expect reads len(want) bytes and checks they are want (a magic number);
// the error says what the message was expected to be.
func (r *Reader) Expect(want []byte, what string) {
	got := r.Bytes(len(want))
	if r.err == nil && !bytes.Equal(got, want) {
		r.Failf("does not start with %q (is it %s?)", want, what)
	}
}

// Header reads a version byte and a message-type byte and checks both.
func (r *Reader) Header(version, typ byte) {
	v, t := r.Uint8(), r.Uint8()
	switch {
	case r.err != nil:
	case v != version:
		r.Failf("version %d, want %d", v, version)
	case t != typ:
		r.Failf("message type %d, want %d", t, typ)
	}
}

// Text checks that b is UTF-8 without control characters and returns it as
// a string ("" after an error).
func (r *Reader) Text(b []byte, what string) string {
	if r.err != nil {
		return ""
	}
	if !utf8.Valid(b) {
		r.Failf("%s is not UTF-8", what)
		return ""
	}
	for _, c := range string(b) {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			r.Failf("%s contains control character %U", what, c)
			return ""
		}
	}
	return string(b)
}

// Finish fails on trailing bytes and returns the first error.
func (r *Reader) Finish() error {
	if r.err == nil && len(r.s) != 0 {
		r.Failf("%d trailing bytes", len(r.s))
	}
	return r.err
}
