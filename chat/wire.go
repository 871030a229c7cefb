package chat

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/internal/wire"
)

// ProtocolID is the chat protocol. The opener of a stream sends a Hello
// (its certificate) and then items (texts, read receipts); the other side
// answers every frame with an Ack, in order.
const ProtocolID = "/peercall/chat/1"

// Limits of the protocol, checked before anything is read.
const (
	// MaxText bounds one message's text, in bytes.
	MaxText = 4000
	// MaxVoice bounds a voice message's Ogg Opus file, in bytes, and
	// MaxVoiceLength its length.
	MaxVoice       = 60_000
	MaxVoiceLength = 20 * time.Second
	// MaxFrame bounds one frame (a voice message and its header; a text
	// frame's fields are bounded by MaxText).
	MaxFrame = MaxVoice + 64
	// maxReason bounds an Ack's reason.
	maxReason = 200
	version   = 1
)

// Frame types.
const (
	typeHello  = 1 // the opener's certificate
	typeText   = 2 // one message
	typeRead   = 3 // "I have read your messages up to Seq"
	typeTyping = 4 // "I am typing" (not stored)
	typeAck    = 5 // the answer to every frame
	typeVoice  = 6 // one voice message
)

// Ack results.
const (
	ackOK        = 0
	ackThrottled = 1 // try again after RetryMs
	ackRefused   = 2 // will never be taken (blocked, chat disabled)
)

// ErrMalformed wraps every decoding error.
var ErrMalformed = errors.New("malformed chat frame")

// frame is one frame of the protocol; Type says which fields it uses.
type frame struct {
	Type byte
	Cert []byte   // hello
	ID   [16]byte // text
	Seq  uint64   // text, read
	Sent int64    // text: the sender's clock, Unix ms
	Text string   // text
	// Voice fields: the Ogg Opus file and its length.
	Audio      []byte
	DurationMs uint32
	// Ack fields.
	Result  byte
	RetryMs uint32
	Reason  string
}

func (f frame) marshal() ([]byte, error) {
	b := []byte{version, f.Type}
	switch f.Type {
	case typeHello:
		if len(f.Cert) == 0 || len(f.Cert) > crypto.MaxCertificateSize {
			return nil, fmt.Errorf("certificate of %d bytes", len(f.Cert))
		}
		b = append(b, byte(len(f.Cert)>>8), byte(len(f.Cert)))
		b = append(b, f.Cert...)
	case typeText:
		if err := CheckText(f.Text); err != nil {
			return nil, err
		}
		if f.Seq == 0 || f.Sent < 0 {
			return nil, errors.New("a message needs a sequence number and a time")
		}
		b = append(b, f.ID[:]...)
		b = appendU64(b, f.Seq)
		b = appendU64(b, uint64(f.Sent))
		b = append(b, byte(len(f.Text)>>8), byte(len(f.Text)))
		b = append(b, f.Text...)
	case typeVoice:
		if len(f.Audio) == 0 || len(f.Audio) > MaxVoice || f.DurationMs == 0 || f.DurationMs > uint32(MaxVoiceLength/time.Millisecond) {
			return nil, fmt.Errorf("a voice message of %d bytes and %d ms: the limits are %d bytes and %v", len(f.Audio), f.DurationMs, MaxVoice, MaxVoiceLength)
		}
		if f.Seq == 0 || f.Sent < 0 {
			return nil, errors.New("a message needs a sequence number and a time")
		}
		b = append(b, f.ID[:]...)
		b = appendU64(b, f.Seq)
		b = appendU64(b, uint64(f.Sent))
		b = append(b, byte(f.DurationMs>>24), byte(f.DurationMs>>16), byte(f.DurationMs>>8), byte(f.DurationMs))
		b = append(b, byte(len(f.Audio)>>8), byte(len(f.Audio)))
		b = append(b, f.Audio...)
	case typeRead:
		if f.Seq == 0 {
			return nil, errors.New("a read receipt needs a sequence number")
		}
		b = appendU64(b, f.Seq)
	case typeTyping:
	case typeAck:
		if f.Result > ackRefused || len(f.Reason) > maxReason {
			return nil, fmt.Errorf("ack %d with a reason of %d bytes", f.Result, len(f.Reason))
		}
		b = append(b, f.Result, byte(f.RetryMs>>24), byte(f.RetryMs>>16), byte(f.RetryMs>>8), byte(f.RetryMs), byte(len(f.Reason)))
		b = append(b, f.Reason...)
	default:
		return nil, fmt.Errorf("frame type %d", f.Type)
	}
	return b, nil
}

func appendU64(b []byte, v uint64) []byte {
	return append(b, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// decodeFrame decodes one frame strictly: the known version and types,
// every length within its limit, text checked, no trailing bytes.
func decodeFrame(data []byte) (frame, error) {
	var f frame
	if len(data) > MaxFrame {
		return f, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(data), MaxFrame)
	}
	r := wire.NewReader(data, ErrMalformed)
	if v := r.Uint8(); r.Err() == nil && v != version {
		r.Failf("version %d, want %d", v, version)
	}
	f.Type = r.Uint8()
	if r.Err() != nil {
		return frame{}, r.Err()
	}
	switch f.Type {
	case typeHello:
		f.Cert = append([]byte(nil), r.Bytes16(1, crypto.MaxCertificateSize, "certificate")...)
	case typeText:
		copy(f.ID[:], r.Bytes(16))
		f.Seq = r.Uint64()
		sent := r.Uint64()
		body := r.Bytes16(1, MaxText, "text")
		if r.Err() == nil {
			if f.Seq == 0 {
				r.Failf("sequence number 0")
			}
			if sent > 1<<53 {
				r.Failf("time %d out of range", sent)
			}
			if err := CheckText(string(body)); err != nil {
				r.Failf("%v", err)
			}
		}
		f.Sent, f.Text = int64(sent), string(body)
	case typeVoice:
		copy(f.ID[:], r.Bytes(16))
		f.Seq = r.Uint64()
		sent := r.Uint64()
		f.DurationMs = uint32(r.Uint16())<<16 | uint32(r.Uint16())
		f.Audio = append([]byte(nil), r.Bytes16(1, MaxVoice, "voice message")...)
		if r.Err() == nil {
			switch {
			case f.Seq == 0:
				r.Failf("sequence number 0")
			case sent > 1<<53:
				r.Failf("time %d out of range", sent)
			case f.DurationMs == 0 || f.DurationMs > uint32(MaxVoiceLength/time.Millisecond):
				r.Failf("voice message of %d ms, want 1..%d", f.DurationMs, MaxVoiceLength/time.Millisecond)
			}
		}
		f.Sent = int64(sent)
	case typeRead:
		f.Seq = r.Uint64()
		if r.Err() == nil && f.Seq == 0 {
			r.Failf("read receipt for sequence number 0")
		}
	case typeTyping:
	case typeAck:
		f.Result = r.Uint8()
		f.RetryMs = uint32(r.Uint16())<<16 | uint32(r.Uint16())
		f.Reason = r.Text(r.Bytes8(0, maxReason, "reason"), "reason")
		if r.Err() == nil && f.Result > ackRefused {
			r.Failf("ack result %d", f.Result)
		}
	default:
		r.Failf("unknown frame type %d", f.Type)
	}
	if err := r.Finish(); err != nil {
		return frame{}, err
	}
	return f, nil
}

// CheckText checks a message's text: 1..MaxText bytes of UTF-8 with no
// control characters but newline and tab.
func CheckText(s string) error {
	if s == "" {
		return errors.New("an empty message: type some text")
	}
	if len(s) > MaxText {
		return fmt.Errorf("a message of %d bytes is too long: the limit is %d", len(s), MaxText)
	}
	if !utf8.ValidString(s) {
		return errors.New("the message is not UTF-8 text")
	}
	for _, c := range s {
		if (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return fmt.Errorf("the message contains control character %U", c)
		}
	}
	return nil
}

// decodeHello decodes a stream's first frame, which must be a hello.
func decodeHello(data []byte) (frame, error) {
	f, err := decodeFrame(data)
	if err == nil && f.Type != typeHello {
		err = fmt.Errorf("%w: the stream does not start with a hello", ErrMalformed)
	}
	return f, err
}
