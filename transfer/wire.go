package transfer

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/peercall/peercall/internal/wire"
)

// ProtocolID is the libp2p protocol of file transfers.
const ProtocolID = "/peercall/file/1"

const (
	version = 1
	// ChunkSize is the data of one CHUNK message (the last may be
	// shorter); it keeps a chunk within one frame.
	ChunkSize = 60 << 10
	// maxFrame bounds every frame read.
	maxFrame = 2 + 8 + 32 + ChunkSize
	// MaxNameBytes bounds the name an offer carries (the receiver
	// sanitises and shortens it; longer is refused by the decoder).
	MaxNameBytes = 4096
	// maxCertBytes bounds the sender's certificate in an offer.
	maxCertBytes = 2048
	// maxReasonBytes bounds a refusal's or a result's text.
	maxReasonBytes = 1024
	// IDSize is the length of a transfer id.
	IDSize = 16
)

// Message types.
const (
	typeOffer  = 1
	typeAccept = 2
	typeRefuse = 3
	typeChunk  = 4
	typeDone   = 5
	typeResult = 6
)

// ErrMalformed wraps every decoding error of a peer's message.
var ErrMalformed = errors.New("malformed file transfer message")

// Offer is the sender's first message: what it wants to send.
type Offer struct {
	ID   [IDSize]byte
	Size uint64
	// Cert is the sender's directory certificate (the receiver checks it
	// names the stream's authenticated peer).
	Cert []byte
	// Name is the sender's name of the file, untrusted bytes.
	Name []byte
}

// Accept says the receiver takes the file from Offset (its verified bytes
// from an earlier attempt; 0 for a new transfer).
type Accept struct{ Offset uint64 }

// Refuse says why the receiver will not take the file.
type Refuse struct{ Reason string }

// Chunk is ChunkSize bytes of the file (fewer at the end) at Offset.
type Chunk struct {
	Offset uint64
	SHA256 [32]byte
	Data   []byte
}

// Status is the receiver's verdict on a complete file.
type Status uint8

// The statuses of a Result.
const (
	// StatusReleased: verified, scanned (when a scan is configured) and
	// moved out of quarantine.
	StatusReleased Status = 0
	// StatusQuarantined: verified but kept in quarantine (the scan failed
	// or timed out).
	StatusQuarantined Status = 1
	// StatusFailed: the file did not verify.
	StatusFailed Status = 2
)

func (s Status) String() string {
	switch s {
	case StatusReleased:
		return "released"
	case StatusQuarantined:
		return "quarantined"
	default:
		return "failed"
	}
}

// Result is the receiver's last message.
type Result struct {
	Status Status `json:"status"`
	// Name is the released file's name in the receiver's folder.
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

func header(typ byte, n int) []byte {
	return append(make([]byte, 0, 2+n), version, typ)
}

// Marshal encodes o.
func (o Offer) Marshal() []byte {
	b := header(typeOffer, IDSize+8+4+len(o.Cert)+len(o.Name))
	b = append(b, o.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, o.Size)
	b = binary.BigEndian.AppendUint16(b, uint16(len(o.Cert)))
	b = append(b, o.Cert...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(o.Name)))
	return append(b, o.Name...)
}

// Marshal encodes a.
func (a Accept) Marshal() []byte {
	return binary.BigEndian.AppendUint64(header(typeAccept, 8), a.Offset)
}

// Marshal encodes r.
func (r Refuse) Marshal() []byte {
	reason := clip(r.Reason)
	b := binary.BigEndian.AppendUint16(header(typeRefuse, 2+len(reason)), uint16(len(reason)))
	return append(b, reason...)
}

// Marshal encodes c.
func (c Chunk) Marshal() []byte {
	b := header(typeChunk, 8+32+len(c.Data))
	b = binary.BigEndian.AppendUint64(b, c.Offset)
	b = append(b, c.SHA256[:]...)
	return append(b, c.Data...)
}

// Done ends the file's data with its whole-file hash (FileHash), which the
// sender computes while it sends.
type Done struct{ SHA256 [32]byte }

// Marshal encodes d.
func (d Done) Marshal() []byte { return append(header(typeDone, 32), d.SHA256[:]...) }

// Marshal encodes r.
func (r Result) Marshal() []byte {
	name, reason := clip(r.Name), clip(r.Reason)
	b := header(typeResult, 5+len(name)+len(reason))
	b = append(b, byte(r.Status))
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(reason)))
	return append(b, reason...)
}

// clip shortens s to maxReasonBytes on a rune boundary and drops control
// characters, so that what we send always decodes.
func clip(s string) string {
	out := make([]rune, 0, len(s))
	n := 0
	for _, c := range s {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == 0xfffd {
			c = '?'
		}
		if n+len(string(c)) > maxReasonBytes {
			break
		}
		n += len(string(c))
		out = append(out, c)
	}
	return string(out)
}

// Message is one decoded message: exactly one field is set.
type Message struct {
	Offer  *Offer
	Accept *Accept
	Refuse *Refuse
	Chunk  *Chunk
	Done   *Done
	Result *Result
}

// Decode decodes one message strictly: a known type, every field within
// its bounds, no trailing bytes. Chunk data aliases b.
func Decode(b []byte) (Message, error) {
	if len(b) < 2 {
		return Message{}, fmt.Errorf("message of %d bytes: %w", len(b), ErrMalformed)
	}
	if b[0] != version {
		return Message{}, fmt.Errorf("version %d, want %d: %w", b[0], version, ErrMalformed)
	}
	r := wire.NewReader(b[2:], ErrMalformed)
	var m Message
	switch b[1] {
	case typeOffer:
		o := &Offer{}
		copy(o.ID[:], r.Bytes(IDSize))
		o.Size = r.Uint64()
		o.Cert = append([]byte(nil), r.Bytes16(1, maxCertBytes, "certificate")...)
		o.Name = append([]byte(nil), r.Bytes16(1, MaxNameBytes, "file name")...)
		if o.Size > 1<<62 {
			r.Failf("file size %d is not a size", o.Size)
		}
		m.Offer = o
	case typeAccept:
		m.Accept = &Accept{Offset: r.Uint64()}
	case typeRefuse:
		m.Refuse = &Refuse{Reason: r.Text(r.Bytes16(0, maxReasonBytes, "reason"), "reason")}
	case typeChunk:
		c := &Chunk{Offset: r.Uint64()}
		copy(c.SHA256[:], r.Bytes(32))
		if n := r.Len(); n < 1 || n > ChunkSize {
			r.Failf("chunk of %d bytes, want 1..%d", n, ChunkSize)
		}
		c.Data = r.Bytes(r.Len())
		m.Chunk = c
	case typeDone:
		d := &Done{}
		copy(d.SHA256[:], r.Bytes(32))
		m.Done = d
	case typeResult:
		res := &Result{Status: Status(r.Uint8())}
		res.Name = r.Text(r.Bytes16(0, maxReasonBytes, "name"), "name")
		res.Reason = r.Text(r.Bytes16(0, maxReasonBytes, "reason"), "reason")
		if r.Err() == nil && res.Status > StatusFailed {
			r.Failf("unknown status %d", res.Status)
		}
		m.Result = res
	default:
		return Message{}, fmt.Errorf("unknown message type %d: %w", b[1], ErrMalformed)
	}
	if err := r.Finish(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// chunkFrameHeader is the frame length, the message header, the offset and
// the hash before a chunk's data.
const chunkFrameHeader = 2 + 2 + 8 + 32

// chunkFrame fills in the header of a CHUNK frame whose n bytes of data are
// already in frame[chunkFrameHeader:], and returns the frame: the same
// bytes as writeMsg(Chunk{...}.Marshal()), without copying the data.
func chunkFrame(frame []byte, offset uint64, n int, sum [32]byte) []byte {
	binary.BigEndian.PutUint16(frame, uint16(chunkFrameHeader-2+n))
	frame[2], frame[3] = version, typeChunk
	binary.BigEndian.PutUint64(frame[4:], offset)
	copy(frame[12:], sum[:])
	return frame[:chunkFrameHeader+n]
}

// FileHash is the whole-file hash of an offer: SHA-256 over the
// concatenated SHA-256 of each ChunkSize piece of the file (the last one
// shorter; an empty file has no pieces). A hash list, so that each byte is
// hashed once on each side (the chunk's hash) instead of twice: it halves
// the hashing of a transfer (BenchmarkLoopback).
func FileHash(r io.Reader) ([32]byte, [][32]byte, error) {
	var sums [][32]byte
	root := sha256.New()
	buf := make([]byte, ChunkSize)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			sum := sha256.Sum256(buf[:n])
			sums = append(sums, sum)
			root.Write(sum[:])
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return [32]byte{}, nil, err
		}
	}
	var out [32]byte
	copy(out[:], root.Sum(nil))
	return out, sums, nil
}

// writeMsg writes one framed message.
func writeMsg(w io.Writer, body []byte) error { return wire.WriteFrame(w, body, maxFrame) }

// readMsg reads and decodes one framed message.
func readMsg(r io.Reader) (Message, error) {
	b, err := wire.ReadFrame(r, maxFrame, ErrMalformed)
	if err != nil {
		return Message{}, err
	}
	return Decode(b)
}

// decodeOffer decodes a stream's first message, which must be an offer.
func decodeOffer(b []byte) (*Offer, error) {
	m, err := Decode(b)
	if err == nil && m.Offer == nil {
		err = fmt.Errorf("first message is not an offer: %w", ErrMalformed)
	}
	return m.Offer, err
}
