package signalling

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Errors of the codec. Every decode error wraps exactly one of them.
var (
	// ErrMalformed: the bytes are not a valid message of this version.
	ErrMalformed = errors.New("signalling: malformed message (the peer runs a broken or incompatible peercall)")
	// ErrTooLarge: a frame announces more bytes than the size limit allows.
	ErrTooLarge = errors.New("signalling: message too large")
	// ErrUnsupportedVersion: the message is of a wire version this node does not speak.
	ErrUnsupportedVersion = errors.New("signalling: unsupported message version (upgrade peercall on both sides)")
)

// Field tags of the body's TLV section. Wire values: never renumber.
const (
	tagCertificate = 1
	tagSDP         = 2
	tagDisplayName = 3
	tagReason      = 4
	tagDetail      = 5
	tagMedia       = 6
	tagCandidates  = 7 // candidate lines joined by "\n"
	maxTag         = tagCandidates
)

const (
	headerSize = 2 + len(CallID{}) // version, type, call id
	frameSize  = 4                 // big-endian uint32 length prefix
)

// fieldsOf says which fields a type may carry (allowed) and must carry
// (required), as bit sets indexed by tag.
func fieldsOf(t Type) (allowed, required uint8) {
	const (
		cert   = 1 << tagCertificate
		sdp    = 1 << tagSDP
		name   = 1 << tagDisplayName
		reason = 1 << tagReason
		detail = 1 << tagDetail
		media  = 1 << tagMedia
		cands  = 1 << tagCandidates
	)
	switch t {
	case TypeInvite:
		return cert | sdp | name, cert | sdp
	case TypeAccept, TypeICERestart, TypeICERestartAnswer:
		return sdp, sdp
	case TypeReject, TypeCancel, TypeHangup:
		return reason | detail, 0
	case TypeMediaState:
		return media, media
	case TypeCandidates:
		return cands, cands
	default: // RINGING, BUSY, END_OF_CANDIDATES, RESUME, RESUMED
		return 0, 0
	}
}

// present returns the bit set of the fields m fills in.
func (m *Message) present() uint8 {
	var p uint8
	if len(m.Certificate) > 0 {
		p |= 1 << tagCertificate
	}
	if m.SDP != "" {
		p |= 1 << tagSDP
	}
	if m.DisplayName != "" {
		p |= 1 << tagDisplayName
	}
	if m.Reason != ReasonNone {
		p |= 1 << tagReason
	}
	if m.Detail != "" {
		p |= 1 << tagDetail
	}
	// MEDIA_STATE always carries its state (zero: neither muted nor held);
	// another type carries it only when set, which Validate refuses.
	if m.Type == TypeMediaState || m.Media != 0 {
		p |= 1 << tagMedia
	}
	if len(m.Candidates) > 0 {
		p |= 1 << tagCandidates
	}
	return p
}

// Validate reports whether m is a message this version may send: a known
// type, a non-zero call id, exactly the fields its type allows with the
// required ones present, and every field within its limit.
func (m *Message) Validate() error {
	if !m.Type.valid() {
		return fmt.Errorf("%w: unknown message type %d", ErrMalformed, uint8(m.Type))
	}
	if m.CallID.IsZero() {
		return fmt.Errorf("%w: %v with an all-zero call id", ErrMalformed, m.Type)
	}
	allowed, required := fieldsOf(m.Type)
	p := m.present()
	if extra := p &^ allowed; extra != 0 {
		return fmt.Errorf("%w: %v carries field %s it may not", ErrMalformed, m.Type, fieldName(lowestBit(extra)))
	}
	if missing := required &^ p; missing != 0 {
		return fmt.Errorf("%w: %v lacks required field %s", ErrMalformed, m.Type, fieldName(lowestBit(missing)))
	}
	if len(m.Certificate) > MaxCertificateSize {
		return fmt.Errorf("%w: certificate of %d bytes exceeds %d", ErrMalformed, len(m.Certificate), MaxCertificateSize)
	}
	if err := checkText("sdp", m.SDP, MaxMessageSize, true); err != nil {
		return err
	}
	if err := checkText("display name", m.DisplayName, MaxDisplayNameSize, false); err != nil {
		return err
	}
	if err := checkText("detail", m.Detail, MaxDetailSize, false); err != nil {
		return err
	}
	if !m.Reason.valid() {
		return fmt.Errorf("%w: unknown reason %d", ErrMalformed, uint8(m.Reason))
	}
	if !m.Media.valid() {
		return fmt.Errorf("%w: media state %#x has unknown bits", ErrMalformed, uint8(m.Media))
	}
	return checkCandidates(m.Candidates)
}

// checkCandidates requires at most MaxCandidates lines, each starting with
// "candidate:", within MaxCandidateSize bytes and printable ASCII only (no
// CR or LF: they would split the line in the SDP and on the wire).
func checkCandidates(lines []string) error {
	if len(lines) > MaxCandidates {
		return fmt.Errorf("%w: %d candidates in one message exceeds %d", ErrMalformed, len(lines), MaxCandidates)
	}
	for i, l := range lines {
		if len(l) > MaxCandidateSize {
			return fmt.Errorf("%w: candidate %d of %d bytes exceeds %d", ErrMalformed, i, len(l), MaxCandidateSize)
		}
		if !strings.HasPrefix(l, "candidate:") || len(l) == len("candidate:") {
			return fmt.Errorf("%w: candidate %d does not start with \"candidate:\"", ErrMalformed, i)
		}
		for j := 0; j < len(l); j++ {
			if l[j] < 0x20 || l[j] > 0x7e {
				return fmt.Errorf("%w: candidate %d holds byte %#x (printable ASCII only)", ErrMalformed, i, l[j])
			}
		}
	}
	return nil
}

// checkText requires valid UTF-8 within max bytes; multiline text (SDP) may
// hold CR, LF and TAB, other text no control character at all. NUL never.
func checkText(name, s string, max int, multiline bool) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s of %d bytes exceeds %d", ErrMalformed, name, len(s), max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrMalformed, name)
	}
	for _, r := range s {
		if !unicode.IsControl(r) {
			continue
		}
		if multiline && (r == '\r' || r == '\n' || r == '\t') {
			continue
		}
		return fmt.Errorf("%w: %s holds control character %U", ErrMalformed, name, r)
	}
	return nil
}

func lowestBit(b uint8) int {
	for i := 0; i < 8; i++ {
		if b&(1<<i) != 0 {
			return i
		}
	}
	return -1
}

func fieldName(tag int) string {
	switch tag {
	case tagCertificate:
		return "certificate"
	case tagSDP:
		return "sdp"
	case tagDisplayName:
		return "display name"
	case tagReason:
		return "reason"
	case tagDetail:
		return "detail"
	case tagMedia:
		return "media"
	case tagCandidates:
		return "candidates"
	}
	return fmt.Sprintf("tag %d", tag)
}

// AppendMessage validates m and appends its body (without the length prefix)
// to dst.
func AppendMessage(dst []byte, m *Message) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return dst, err
	}
	dst = append(dst, Version, byte(m.Type))
	dst = append(dst, m.CallID[:]...)
	if len(m.Certificate) > 0 {
		dst = appendField(dst, tagCertificate, m.Certificate)
	}
	if m.SDP != "" {
		dst = appendStringField(dst, tagSDP, m.SDP)
	}
	if m.DisplayName != "" {
		dst = appendStringField(dst, tagDisplayName, m.DisplayName)
	}
	if m.Reason != ReasonNone {
		dst = append(dst, tagReason, 1, byte(m.Reason))
	}
	if m.Detail != "" {
		dst = appendStringField(dst, tagDetail, m.Detail)
	}
	if m.Type == TypeMediaState {
		dst = append(dst, tagMedia, 1, byte(m.Media))
	}
	if len(m.Candidates) > 0 {
		dst = appendStringField(dst, tagCandidates, strings.Join(m.Candidates, "\n"))
	}
	return dst, nil
}

func appendField(dst []byte, tag byte, v []byte) []byte {
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

func appendStringField(dst []byte, tag byte, v string) []byte {
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

// DecodeMessage parses one message body (the bytes after the length prefix).
// It is strict: the encoding must be the canonical one AppendMessage writes
// (fields in ascending tag order, each at most once, never empty, minimal
// varint lengths, no trailing bytes), and the message must pass Validate.
func DecodeMessage(body []byte) (Message, error) {
	var m Message
	if len(body) > MaxMessageSize {
		return m, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrTooLarge, len(body), MaxMessageSize)
	}
	if len(body) < headerSize {
		return m, fmt.Errorf("%w: %d bytes is shorter than the %d-byte header", ErrMalformed, len(body), headerSize)
	}
	if body[0] != Version {
		return m, fmt.Errorf("%w: got version %d, speak %d", ErrUnsupportedVersion, body[0], Version)
	}
	m.Type = Type(body[1])
	if !m.Type.valid() {
		return m, fmt.Errorf("%w: unknown message type %d", ErrMalformed, body[1])
	}
	copy(m.CallID[:], body[2:headerSize])
	rest := body[headerSize:]
	last := 0
	var seen uint8 // the fields on the wire (a zero MEDIA_STATE value is one)
	for len(rest) > 0 {
		tag := int(rest[0])
		if tag <= last || tag > maxTag {
			return m, fmt.Errorf("%w: field tag %d out of order, repeated or unknown", ErrMalformed, tag)
		}
		last = tag
		seen |= 1 << tag
		n, k := binary.Uvarint(rest[1:])
		if k <= 0 {
			return m, fmt.Errorf("%w: bad length of field %s", ErrMalformed, fieldName(tag))
		}
		if k != uvarintLen(n) {
			return m, fmt.Errorf("%w: non-minimal length of field %s", ErrMalformed, fieldName(tag))
		}
		rest = rest[1+k:]
		if n == 0 || n > uint64(len(rest)) {
			return m, fmt.Errorf("%w: field %s has length %d with %d bytes left", ErrMalformed, fieldName(tag), n, len(rest))
		}
		v := rest[:n]
		rest = rest[n:]
		switch tag {
		case tagCertificate:
			m.Certificate = append([]byte(nil), v...)
		case tagSDP:
			m.SDP = string(v)
		case tagDisplayName:
			m.DisplayName = string(v)
		case tagReason:
			if len(v) != 1 || v[0] == byte(ReasonNone) {
				return m, fmt.Errorf("%w: reason field must be one non-zero byte", ErrMalformed)
			}
			m.Reason = Reason(v[0])
		case tagDetail:
			m.Detail = string(v)
		case tagMedia:
			if len(v) != 1 {
				return m, fmt.Errorf("%w: media field must be one byte", ErrMalformed)
			}
			m.Media = MediaState(v[0])
		case tagCandidates:
			// Split keeps empty lines ("a\n\nb", a trailing "\n"), which
			// checkCandidates refuses: the encoding stays canonical.
			m.Candidates = strings.SplitN(string(v), "\n", MaxCandidates+1)
			if len(m.Candidates) > MaxCandidates {
				return Message{}, fmt.Errorf("%w: more than %d candidates in one message", ErrMalformed, MaxCandidates)
			}
		}
	}
	allowed, required := fieldsOf(m.Type)
	if extra, missing := seen&^allowed, required&^seen; extra != 0 || missing != 0 {
		return Message{}, fmt.Errorf("%w: %v carries fields %#x, allows %#x and needs %#x", ErrMalformed, m.Type, seen, allowed, required)
	}
	if err := m.Validate(); err != nil {
		return Message{}, err
	}
	return m, nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// WriteMessage writes m to w as one frame: a 4-byte big-endian body length,
// then the body, in a single Write. It refuses a body over max bytes
// (MaxMessageSize if max <= 0 or larger).
func WriteMessage(w io.Writer, m *Message, max int) error {
	max = clampMax(max)
	buf := make([]byte, frameSize, frameSize+256+len(m.SDP)+len(m.Certificate)+len(m.Candidates)*MaxCandidateSize/2)
	buf, err := AppendMessage(buf, m)
	if err != nil {
		return err
	}
	n := len(buf) - frameSize
	if n > max {
		return fmt.Errorf("%w: %v of %d bytes exceeds the %d-byte limit (shorten the SDP or certificate)", ErrTooLarge, m.Type, n, max)
	}
	binary.BigEndian.PutUint32(buf, uint32(n))
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("signalling: send %v: %w", m.Type, err)
	}
	return nil
}

// ReadMessage reads one frame from r and decodes it. A length over max
// (MaxMessageSize if max <= 0 or larger) is refused with ErrTooLarge before
// the body is read. A stream that ends cleanly before a frame starts returns
// io.EOF; one that ends inside a frame returns io.ErrUnexpectedEOF.
func ReadMessage(r io.Reader, max int) (Message, error) {
	max = clampMax(max)
	var hdr [frameSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Message{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(max) {
		return Message{}, fmt.Errorf("%w: frame announces %d bytes, limit is %d", ErrTooLarge, n, max)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Message{}, err
	}
	return DecodeMessage(body)
}

func clampMax(max int) int {
	if max <= 0 || max > MaxMessageSize {
		return MaxMessageSize
	}
	return max
}
