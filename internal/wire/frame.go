package wire

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Frames are a 2-byte big-endian body length (1..max) followed by the body.

// WriteFrame writes body as one frame, in one Write.
func WriteFrame(w io.Writer, body []byte, max int) error {
	max = min(max, math.MaxUint16)
	if len(body) == 0 || len(body) > max {
		return fmt.Errorf("frame body of %d bytes, want 1..%d", len(body), max)
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(body)), uint16(len(body)))
	_, err := w.Write(append(b, body...))
	return err
}

// ReadFrame reads one frame. A length outside 1..max is refused, with an
// error wrapping malformed, before any of the body is read or allocated;
// I/O errors (a short frame, a deadline) are wrapped as they are.
func ReadFrame(r io.Reader, max int, malformed error) ([]byte, error) {
	return ReadFrameInto(r, nil, max, malformed)
}

// ReadFrameInto is ReadFrame reading the body into buf when it fits (a
// new slice otherwise), for a reader that reuses its buffers.
func ReadFrameInto(r io.Reader, buf []byte, max int, malformed error) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("read frame length: %w", err)
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n == 0 || n > max {
		return nil, fmt.Errorf("frame of %d bytes, want 1..%d: %w", n, max, malformed)
	}
	body := buf[:0]
	if cap(body) >= n {
		body = body[:n]
	} else {
		body = make([]byte, n)
	}
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("read frame body (%d bytes): %w", n, err)
	}
	return body, nil
}
