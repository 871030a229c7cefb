package reach

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/internal/wire"
)

// ProtocolID is the libp2p protocol on which a node asks a peer to
// prove its reachability: the peer dials the asker's advertised addresses
// back on a fresh connection, from a separate dialer, and says which one
// answered.
const ProtocolID = "/peercall/dialback/1"

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

// ErrMalformed is wrapped by every dial-back decoding error.
var ErrMalformed = errors.New("malformed dial-back message")

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

func unmarshalDialbackRequest(b []byte) (dialbackRequest, error) {
	var q dialbackRequest
	if len(b) > maxDialbackMessage {
		return q, fmt.Errorf("%d bytes exceed %d: %w", len(b), maxDialbackMessage, ErrMalformed)
	}
	r := wire.NewReader(b, ErrMalformed)
	r.Header(dialbackVersion, dialbackTypeReq)
	copy(q.Nonce[:], r.Bytes(dialbackNonce))
	n := int(r.Uint8())
	if r.Err() == nil && (n < 1 || n > maxDialbackAddrs) {
		r.Failf("%d addresses, want 1..%d", n, maxDialbackAddrs)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		raw := r.Bytes16(1, maxDialbackAddrLen, fmt.Sprintf("address %d", i))
		if r.Err() != nil {
			break
		}
		a, err := ma.NewMultiaddrBytes(raw)
		if err != nil {
			r.Failf("address %d: %v", i, err)
			break
		}
		q.Addrs = append(q.Addrs, a)
	}
	if err := r.Finish(); err != nil {
		return dialbackRequest{}, err
	}
	return q, nil
}

func unmarshalDialbackResponse(b []byte) (dialbackResponse, error) {
	var p dialbackResponse
	if len(b) > maxDialbackMessage {
		return p, fmt.Errorf("%d bytes exceed %d: %w", len(b), maxDialbackMessage, ErrMalformed)
	}
	r := wire.NewReader(b, ErrMalformed)
	r.Header(dialbackVersion, dialbackTypeRes)
	copy(p.Nonce[:], r.Bytes(dialbackNonce))
	p.Code, p.Index = dialbackCode(r.Uint8()), int(r.Uint8())
	if r.Err() == nil {
		switch {
		case p.Code > dialbackBadInput:
			r.Failf("unknown code %d", p.Code)
		case p.Index != dialbackNone && p.Index >= maxDialbackAddrs:
			r.Failf("address index %d, want 0..%d or %d", p.Index, maxDialbackAddrs-1, dialbackNone)
		case (p.Code == dialbackOK) != (p.Index != dialbackNone):
			r.Failf("code %d with address index %d", p.Code, p.Index)
		}
	}
	p.Message = r.Text(r.Bytes16(0, maxDialbackText, "message"), "message")
	if err := r.Finish(); err != nil {
		return dialbackResponse{}, err
	}
	return p, nil
}

// writeDialbackFrame and readDialbackFrame are /peercall/dialback/1's
// framing: a 2-byte length and a body of 1..maxDialbackMessage bytes.
func writeDialbackFrame(w io.Writer, body []byte) error {
	if err := wire.WriteFrame(w, body, maxDialbackMessage); err != nil {
		return fmt.Errorf("dial-back message: %w", err)
	}
	return nil
}

func readDialbackFrame(r io.Reader) ([]byte, error) {
	b, err := wire.ReadFrame(r, maxDialbackMessage, ErrMalformed)
	if err != nil {
		return nil, fmt.Errorf("read dial-back frame: %w", err)
	}
	return b, nil
}
