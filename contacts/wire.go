package contacts

import (
	"errors"
	"fmt"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/internal/wire"
)

// ProtocolID is the contacts protocol: one message and one Ack per stream.
const ProtocolID = "/peercall/contacts/1"

// Limits of the protocol, checked before anything is read.
const (
	// MaxFrame bounds one message (a certificate, a note and a header).
	MaxFrame = 2048
	// MaxNote bounds a request's message, in bytes.
	MaxNote = 500
	// MaxMood bounds a mood text, in bytes.
	MaxMood = 140
	version = 1
)

// Type is a contacts message's type.
type Type uint8

// Message types.
const (
	TypeRequest  Type = 1 // "add me", with an optional note
	TypeAccept   Type = 2 // the answer yes
	TypeDecline  Type = 3 // the answer no
	TypeRemove   Type = 4 // "I removed you"
	TypePresence Type = 5 // my status and mood
	TypeAck      Type = 6 // the reply to each of the above
)

func (t Type) String() string {
	switch t {
	case TypeRequest:
		return "request"
	case TypeAccept:
		return "accept"
	case TypeDecline:
		return "decline"
	case TypeRemove:
		return "remove"
	case TypePresence:
		return "presence"
	case TypeAck:
		return "ack"
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// Status is a user's availability.
type Status string

// Statuses, spelt as on the command line.
const (
	Online    Status = "online"
	Away      Status = "away"
	DND       Status = "dnd"
	Invisible Status = "invisible"
	Offline   Status = "offline"
)

var statusCodes = []Status{1: Online, 2: Away, 3: DND, 4: Invisible, 5: Offline}

func statusCode(s Status) byte {
	for i, v := range statusCodes {
		if v == s && i > 0 {
			return byte(i)
		}
	}
	return 0
}

// ParseStatus accepts what a user may choose: online, away, dnd, invisible.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case Online, Away, DND, Invisible:
		return st, nil
	}
	return "", fmt.Errorf("status %.20q: choose online, away, dnd or invisible", s)
}

// Message is one contacts message. Certificate is the sender's directory
// certificate (absent in an Ack, which answers on the sender's stream).
type Message struct {
	Type        Type
	Certificate []byte
	Note        string // TypeRequest
	Status      Status // TypePresence, TypeAck
	Mood        string // TypePresence, TypeAck
	// Refused is set in an Ack when the message was not taken (the sender
	// is not an authorised contact for it).
	Refused bool
}

// ErrMalformed wraps every decoding error.
var ErrMalformed = errors.New("malformed contacts message")

// Marshal encodes m: version, type, then the fields of the type.
func (m Message) Marshal() ([]byte, error) {
	b := []byte{version, byte(m.Type)}
	short := func(v []byte, max int, what string) error {
		if len(v) > max {
			return fmt.Errorf("%s of %d bytes, limit %d", what, len(v), max)
		}
		if max > 255 {
			b = append(b, byte(len(v)>>8))
		}
		b = append(b, byte(len(v)))
		b = append(b, v...)
		return nil
	}
	if m.Type != TypeAck {
		if len(m.Certificate) == 0 {
			return nil, errors.New("a contacts message needs the sender's certificate")
		}
		if err := short(m.Certificate, crypto.MaxCertificateSize, "certificate"); err != nil {
			return nil, err
		}
	}
	switch m.Type {
	case TypeRequest:
		if err := short([]byte(m.Note), MaxNote, "note"); err != nil {
			return nil, err
		}
	case TypeAccept, TypeDecline, TypeRemove:
	case TypePresence, TypeAck:
		if m.Type == TypeAck {
			refused := byte(0)
			if m.Refused {
				refused = 1
			}
			b = append(b, refused)
		}
		c := statusCode(m.Status)
		if c == 0 {
			return nil, fmt.Errorf("status %q", m.Status)
		}
		b = append(b, c)
		if err := short([]byte(m.Mood), MaxMood, "mood"); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("message type %d", m.Type)
	}
	return b, nil
}

// Decode decodes one message strictly: the known version and types only,
// every length within its limit, text without control characters, flags 0
// or 1, no trailing bytes.
func Decode(data []byte) (Message, error) {
	var m Message
	if len(data) > MaxFrame {
		return m, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(data), MaxFrame)
	}
	r := wire.NewReader(data, ErrMalformed)
	if v := r.Uint8(); r.Err() == nil && v != version {
		r.Failf("version %d, want %d", v, version)
	}
	m.Type = Type(r.Uint8())
	if r.Err() != nil {
		return Message{}, r.Err()
	}
	if m.Type < TypeRequest || m.Type > TypeAck {
		r.Failf("unknown message type %d", m.Type)
		return Message{}, r.Err()
	}
	if m.Type != TypeAck {
		m.Certificate = r.Bytes16(1, crypto.MaxCertificateSize, "certificate")
	}
	switch m.Type {
	case TypeRequest:
		m.Note = r.Text(r.Bytes16(0, MaxNote, "note"), "note")
	case TypePresence, TypeAck:
		if m.Type == TypeAck {
			switch f := r.Uint8(); f {
			case 0, 1:
				m.Refused = f == 1
			default:
				r.Failf("refused flag %d, want 0 or 1", f)
			}
		}
		c := int(r.Uint8())
		if r.Err() == nil && (c == 0 || c >= len(statusCodes)) {
			r.Failf("unknown status %d", c)
		}
		if r.Err() == nil {
			m.Status = statusCodes[c]
		}
		m.Mood = r.Text(r.Bytes8(0, MaxMood, "mood"), "mood")
	}
	if err := r.Finish(); err != nil {
		return Message{}, err
	}
	if m.Certificate != nil {
		m.Certificate = append([]byte(nil), m.Certificate...)
	}
	return m, nil
}

// decodeOpening decodes a stream's first message, which an ack may not be.
func decodeOpening(data []byte) (Message, error) {
	m, err := Decode(data)
	if err == nil && m.Type == TypeAck {
		err = fmt.Errorf("%w: an ack opened the stream", ErrMalformed)
	}
	return m, err
}
