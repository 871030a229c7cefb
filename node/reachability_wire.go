package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	ma "github.com/multiformats/go-multiaddr"
)

// DialbackProtocolID is the libp2p protocol on which a node asks a peer to
// prove its reachability: the peer dials the asker's advertised addresses
// back on a fresh connection, from a separate dialer, and says which one
// answered.
const DialbackProtocolID = "/peercall/dialback/1"

// Wire limits of /peercall/dialback/1.
const (
	// maxDialbackMessage bounds one frame's body.
	maxDialbackMessage = 4096
	// maxDialbackAddrs and maxDialbackAddrLen bound the addresses asked for.
	maxDialbackAddrs   = 8
	maxDialbackAddrLen = 256
	// maxDialbackText bounds a response's message.
	maxDialbackText = 512
	dialbackNonce   = 16
	dialbackVersion = 1
	dialbackTypeReq = 1
	dialbackTypeRes = 2
	// dialbackNone is the index of a response when no address answered.
	dialbackNone = 255
)

// ErrDialbackMalformed is wrapped by every dial-back decoding error.
var ErrDialbackMalformed = errors.New("malformed dial-back message")

// dialbackCode is a dial-back response's status.
type dialbackCode uint8

const (
	dialbackOK       dialbackCode = 0 // an address answered: Index names it
	dialbackFailed   dialbackCode = 1 // no address answered
	dialbackRefused  dialbackCode = 2 // nothing eligible (Message says why)
	dialbackBusy     dialbackCode = 3 // the peer is dialling back for others
	dialbackBadInput dialbackCode = 4 // the request did not decode
)

// dialbackRequest is: version 1 | type 1 | nonce 16 | count 1 (1..8), then
// per address a 2-byte big-endian length (1..256) and the binary multiaddr.
type dialbackRequest struct {
	Nonce [dialbackNonce]byte
	Addrs []ma.Multiaddr
}

// dialbackResponse is: version 1 | type 2 | nonce 16 | code 1 | index 1
// (0..7, or 255 for none) | message: 2-byte length (0..512) and UTF-8.
type dialbackResponse struct {
	Nonce   [dialbackNonce]byte
	Code    dialbackCode
	Index   int // dialbackNone when no address answered
	Message string
}

func (q dialbackRequest) marshal() ([]byte, error) {
	if len(q.Addrs) == 0 || len(q.Addrs) > maxDialbackAddrs {
		return nil, fmt.Errorf("dial-back request with %d addresses: send 1..%d", len(q.Addrs), maxDialbackAddrs)
	}
	b := []byte{dialbackVersion, dialbackTypeReq}
	b = append(b, q.Nonce[:]...)
	b = append(b, byte(len(q.Addrs)))
	for _, a := range q.Addrs {
		raw := a.Bytes()
		if len(raw) == 0 || len(raw) > maxDialbackAddrLen {
			return nil, fmt.Errorf("dial-back address %s is %d bytes: at most %d", a, len(raw), maxDialbackAddrLen)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(raw)))
		b = append(b, raw...)
	}
	return b, nil
}

func (p dialbackResponse) marshal() ([]byte, error) {
	if len(p.Message) > maxDialbackText {
		p.Message = truncateUTF8(p.Message, maxDialbackText)
	}
	idx := p.Index
	if idx < 0 || idx >= maxDialbackAddrs {
		idx = dialbackNone
	}
	b := []byte{dialbackVersion, dialbackTypeRes}
	b = append(b, p.Nonce[:]...)
	b = append(b, byte(p.Code), byte(idx))
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.Message)))
	return append(b, p.Message...), nil
}

// truncateUTF8 cuts s to at most n bytes on a rune boundary.
func truncateUTF8(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// wireReader is a strict cursor over one frame body.
type wireReader struct {
	b   []byte
	err error
}

func (r *wireReader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrDialbackMalformed, fmt.Sprintf(format, a...))
	}
}

func (r *wireReader) next(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.fail("truncated (need %d more bytes, have %d)", n, len(r.b))
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *wireReader) header(typ byte) {
	h := r.next(2)
	if r.err != nil {
		return
	}
	if h[0] != dialbackVersion {
		r.fail("version %d, want %d", h[0], dialbackVersion)
	} else if h[1] != typ {
		r.fail("type %d, want %d", h[1], typ)
	}
}

func (r *wireReader) finish() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

func unmarshalDialbackRequest(b []byte) (dialbackRequest, error) {
	var q dialbackRequest
	if len(b) > maxDialbackMessage {
		return q, fmt.Errorf("%w: %d bytes exceed %d", ErrDialbackMalformed, len(b), maxDialbackMessage)
	}
	r := &wireReader{b: b}
	r.header(dialbackTypeReq)
	copy(q.Nonce[:], r.next(dialbackNonce))
	cnt := r.next(1)
	if r.err != nil {
		return dialbackRequest{}, r.err
	}
	n := int(cnt[0])
	if n < 1 || n > maxDialbackAddrs {
		r.fail("%d addresses, want 1..%d", n, maxDialbackAddrs)
	}
	for i := 0; i < n && r.err == nil; i++ {
		lb := r.next(2)
		if r.err != nil {
			break
		}
		l := int(binary.BigEndian.Uint16(lb))
		if l < 1 || l > maxDialbackAddrLen {
			r.fail("address %d is %d bytes, want 1..%d", i, l, maxDialbackAddrLen)
			break
		}
		raw := r.next(l)
		if r.err != nil {
			break
		}
		a, err := ma.NewMultiaddrBytes(raw)
		if err != nil {
			r.fail("address %d: %v", i, err)
			break
		}
		q.Addrs = append(q.Addrs, a)
	}
	if err := r.finish(); err != nil {
		return dialbackRequest{}, err
	}
	return q, nil
}

func unmarshalDialbackResponse(b []byte) (dialbackResponse, error) {
	var p dialbackResponse
	if len(b) > maxDialbackMessage {
		return p, fmt.Errorf("%w: %d bytes exceed %d", ErrDialbackMalformed, len(b), maxDialbackMessage)
	}
	r := &wireReader{b: b}
	r.header(dialbackTypeRes)
	copy(p.Nonce[:], r.next(dialbackNonce))
	ci := r.next(2)
	lb := r.next(2)
	if r.err != nil {
		return dialbackResponse{}, r.err
	}
	p.Code, p.Index = dialbackCode(ci[0]), int(ci[1])
	if p.Code > dialbackBadInput {
		r.fail("unknown code %d", p.Code)
	}
	if p.Index != dialbackNone && p.Index >= maxDialbackAddrs {
		r.fail("address index %d, want 0..%d or %d", p.Index, maxDialbackAddrs-1, dialbackNone)
	}
	if (p.Code == dialbackOK) != (p.Index != dialbackNone) {
		r.fail("code %d with address index %d", p.Code, p.Index)
	}
	l := int(binary.BigEndian.Uint16(lb))
	if l > maxDialbackText {
		r.fail("message of %d bytes exceeds %d", l, maxDialbackText)
	}
	msg := r.next(l)
	if r.err == nil {
		if !utf8.Valid(msg) {
			r.fail("message is not UTF-8")
		}
		for _, c := range string(msg) {
			if c < 0x20 || c == 0x7f {
				r.fail("message holds control characters")
				break
			}
		}
		p.Message = string(msg)
	}
	if err := r.finish(); err != nil {
		return dialbackResponse{}, err
	}
	return p, nil
}

// writeDialbackFrame writes a 2-byte length and the body.
func writeDialbackFrame(w io.Writer, body []byte) error {
	if len(body) == 0 || len(body) > maxDialbackMessage {
		return fmt.Errorf("dial-back message of %d bytes: want 1..%d", len(body), maxDialbackMessage)
	}
	_, err := w.Write(binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(body)), uint16(len(body))))
	if err == nil {
		_, err = w.Write(body)
	}
	return err
}

// readDialbackFrame reads one frame, refusing a length over the limit
// before reading the body.
func readDialbackFrame(r io.Reader) ([]byte, error) {
	var lb [2]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return nil, fmt.Errorf("read dial-back frame: %w", err)
	}
	n := int(binary.BigEndian.Uint16(lb[:]))
	if n < 1 || n > maxDialbackMessage {
		return nil, fmt.Errorf("%w: frame of %d bytes, want 1..%d", ErrDialbackMalformed, n, maxDialbackMessage)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("read dial-back frame: %w", err)
	}
	return body, nil
}
