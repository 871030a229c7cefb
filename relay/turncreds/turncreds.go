package turncreds

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/internal/wire"
	"github.com/pion/webrtc/v4"
)

// ProtocolID is the libp2p protocol on which a super-node hands out TURN
// credentials.
const ProtocolID = "/peercall/relay/1"

// Wire limits of /peercall/relay/1.
const (
	// MaxMessageSize bounds one frame's body; a larger length prefix is
	// refused before anything is read.
	MaxMessageSize = 4096
	// NonceSize is the request nonce the response echoes.
	NonceSize = 16
	// MaxURLs and maxURLLen bound the credential URLs.
	MaxURLs    = 8
	maxURLLen  = 512
	maxMessage = 512 // error message bytes
)

// Message types, the second byte of every frame body (the first is the
// protocol version, 1).
const (
	wireVersion  = 1
	typeRequest  = 1
	typeResponse = 2
)

// Code is the status of a credential response.
type Code uint8

// Response codes.
const (
	CodeOK          Code = 0
	CodeBadRequest  Code = 1 // the request could not be decoded
	CodeCertificate Code = 2 // the certificate was refused (ErrCertificate)
	CodeNotRunning  Code = 3 // this node is not relaying now (ErrNotRunning)
	CodeInternal    Code = 4
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed relay credentials message")

// Refusals a super-node answers, as errors.Is matches them on a RemoteError.
var (
	// ErrNotRunning: the TURN server is not running (the node is not a
	// super-node, or it is draining).
	ErrNotRunning = errors.New("this node is not relaying now")
	// ErrCertificate: the certificate does not prove the asker's identity.
	ErrCertificate = errors.New("certificate refused")
)

// Credentials are time-limited TURN credentials for one certified user, in
// the TURN REST API form: Username is "<expiry unix seconds>:<username>"
// and Password is base64(HMAC-SHA1(secret, Username)).
type Credentials struct {
	URLs     []string  `json:"urls"`
	Username string    `json:"username"`
	Password string    `json:"password"`
	Expires  time.Time `json:"expires"`
}

// ICEServer is the credentials as a pion/webrtc ICE server, for
// media.Config.ICEServers.
func (c Credentials) ICEServer() webrtc.ICEServer {
	return webrtc.ICEServer{URLs: append([]string(nil), c.URLs...), Username: c.Username, Credential: c.Password}
}

// CredentialRequest asks a super-node for TURN credentials.
//
// Frame (all integers big-endian): 2-byte body length, then the body:
//
//	version 1 byte (1) | type 1 byte (1) | nonce 16 bytes |
//	certificate: 2-byte length (1..crypto.MaxCertificateSize), bytes
type CredentialRequest struct {
	Nonce       [NonceSize]byte
	Certificate []byte // crypto.Certificate.Marshal()
}

// CredentialResponse answers a CredentialRequest.
//
// Body: version (1) | type (2) | nonce 16 bytes (the request's) | code 1 byte,
// then for CodeOK: expires 8 bytes (Unix seconds) | username 1-byte length
// (1..255) | password 1-byte length (1..255) | URL count 1 byte (1..8), each
// URL 2-byte length (1..512, turn: or turns:); for any other code: message
// 2-byte length (0..512, UTF-8).
type CredentialResponse struct {
	Nonce       [NonceSize]byte
	Code        Code
	Message     string      // for errors
	Credentials Credentials // for CodeOK
}

// RemoteError is a super-node's refusal, as returned by Request.
// errors.Is matches ErrCertificate and ErrNotRunning by code.
type RemoteError struct {
	Code    Code
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("super-node refused relay credentials (code %d): %s", e.Code, e.Message)
}

// Is maps codes to the sentinel errors.
func (e *RemoteError) Is(target error) bool {
	return (e.Code == CodeCertificate && target == ErrCertificate) || (e.Code == CodeNotRunning && target == ErrNotRunning)
}

// WriteFrame and ReadFrame are /peercall/relay/1's framing: a 2-byte
// length and a body of 1..MaxMessageSize bytes.
func WriteFrame(w io.Writer, body []byte) error {
	if err := wire.WriteFrame(w, body, MaxMessageSize); err != nil {
		return fmt.Errorf("relay credentials message: %w", err)
	}
	return nil
}

func ReadFrame(r io.Reader) ([]byte, error) {
	b, err := wire.ReadFrame(r, MaxMessageSize, ErrMalformed)
	if err != nil {
		return nil, fmt.Errorf("read relay credentials frame: %w", err)
	}
	return b, nil
}

// Marshal encodes the request body (without the frame length).
func (q CredentialRequest) Marshal() ([]byte, error) {
	if len(q.Certificate) == 0 || len(q.Certificate) > crypto.MaxCertificateSize {
		return nil, fmt.Errorf("certificate of %d bytes: want 1..%d", len(q.Certificate), crypto.MaxCertificateSize)
	}
	b := []byte{wireVersion, typeRequest}
	b = append(b, q.Nonce[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(q.Certificate)))
	return append(b, q.Certificate...), nil
}

// UnmarshalCredentialRequest decodes a request body strictly: every field
// in range and no trailing bytes.
func UnmarshalCredentialRequest(b []byte) (CredentialRequest, error) {
	d := wire.NewReader(b, ErrMalformed)
	var q CredentialRequest
	d.Header(wireVersion, typeRequest)
	copy(q.Nonce[:], d.Bytes(NonceSize))
	q.Certificate = bytes.Clone(d.Bytes16(1, crypto.MaxCertificateSize, "certificate"))
	if err := d.Finish(); err != nil {
		return CredentialRequest{}, err
	}
	return q, nil
}

// Marshal encodes the response body.
func (p CredentialResponse) Marshal() ([]byte, error) {
	b := []byte{wireVersion, typeResponse}
	b = append(b, p.Nonce[:]...)
	b = append(b, byte(p.Code))
	if p.Code != CodeOK {
		msg := strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, strings.ToValidUTF8(p.Message, "?"))
		if len(msg) > maxMessage {
			msg = strings.ToValidUTF8(msg[:maxMessage], "")
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
		return append(b, msg...), nil
	}
	c := p.Credentials
	switch {
	case len(c.Username) == 0 || len(c.Username) > 255:
		return nil, fmt.Errorf("username of %d bytes: want 1..255", len(c.Username))
	case len(c.Password) == 0 || len(c.Password) > 255:
		return nil, fmt.Errorf("password of %d bytes: want 1..255", len(c.Password))
	case len(c.URLs) == 0 || len(c.URLs) > MaxURLs:
		return nil, fmt.Errorf("%d URLs: want 1..%d", len(c.URLs), MaxURLs)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(c.Expires.Unix()))
	b = append(b, byte(len(c.Username)))
	b = append(b, c.Username...)
	b = append(b, byte(len(c.Password)))
	b = append(b, c.Password...)
	b = append(b, byte(len(c.URLs)))
	for _, u := range c.URLs {
		if len(u) == 0 || len(u) > maxURLLen {
			return nil, fmt.Errorf("URL of %d bytes: want 1..%d", len(u), maxURLLen)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(u)))
		b = append(b, u...)
	}
	return b, nil
}

// UnmarshalCredentialResponse decodes a response body strictly.
func UnmarshalCredentialResponse(b []byte) (CredentialResponse, error) {
	d := wire.NewReader(b, ErrMalformed)
	var p CredentialResponse
	d.Header(wireVersion, typeResponse)
	copy(p.Nonce[:], d.Bytes(NonceSize))
	p.Code = Code(d.Uint8())
	if d.Err() == nil && p.Code > CodeInternal {
		d.Failf("unknown code %d", p.Code)
	}
	if d.Err() == nil && p.Code != CodeOK {
		p.Message = d.Text(d.Bytes16(0, maxMessage, "message"), "message")
		if err := d.Finish(); err != nil {
			return CredentialResponse{}, err
		}
		return p, nil
	}
	secs := int64(d.Uint64())
	if d.Err() == nil && (secs < 0 || secs > 253402300799) {
		d.Failf("expiry %d outside years 1970..9999", secs)
	}
	p.Credentials.Expires = time.Unix(secs, 0).UTC()
	p.Credentials.Username = d.Text(d.Bytes8(1, 255, "username"), "username")
	p.Credentials.Password = d.Text(d.Bytes8(1, 255, "password"), "password")
	n := int(d.Uint8())
	if d.Err() == nil && (n < 1 || n > MaxURLs) {
		d.Failf("%d URLs, want 1..%d", n, MaxURLs)
	}
	for i := 0; i < n && d.Err() == nil; i++ {
		u := d.Text(d.Bytes16(1, maxURLLen, "URL"), "URL")
		if d.Err() == nil && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			d.Failf("URL %q is not turn: or turns:", u)
		}
		p.Credentials.URLs = append(p.Credentials.URLs, u)
	}
	if err := d.Finish(); err != nil {
		return CredentialResponse{}, err
	}
	return p, nil
}

// Request asks the super-node at the other end of rw for TURN
// credentials with cert (this node's certificate). The caller sets the
// stream's deadline. A refusal is a *RemoteError (errors.Is
// ErrCertificate or ErrNotRunning).
func Request(rw io.ReadWriter, cert *crypto.Certificate, nonce [NonceSize]byte) (Credentials, error) {
	body, err := CredentialRequest{Nonce: nonce, Certificate: cert.Marshal()}.Marshal()
	if err != nil {
		return Credentials{}, fmt.Errorf("request relay credentials: %w", err)
	}
	if err := WriteFrame(rw, body); err != nil {
		return Credentials{}, fmt.Errorf("request relay credentials: %w", err)
	}
	body, err = ReadFrame(rw)
	if err != nil {
		return Credentials{}, fmt.Errorf("relay credentials answer: %w", err)
	}
	p, err := UnmarshalCredentialResponse(body)
	if err != nil {
		return Credentials{}, fmt.Errorf("relay credentials answer: %w", err)
	}
	if p.Nonce != nonce && p.Code != CodeBadRequest {
		return Credentials{}, fmt.Errorf("relay credentials answer is for another request (nonce mismatch): %w", ErrMalformed)
	}
	if p.Code != CodeOK {
		return Credentials{}, &RemoteError{Code: p.Code, Message: p.Message}
	}
	return p.Credentials, nil
}
