package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/crypto"
)

// Presence records.
//
// A node announces that it is online by storing a presence record in the DHT
// under PresenceKey(username) = "/peercall/<normalised username>". The value
// is a libp2p signed envelope (record.Seal) made with the node's libp2p
// ed25519 identity key, in the signature domain PresenceDomain, whose payload
// is a Presence encoded as described on Presence.MarshalRecord.
//
// A node that shuts down cleanly publishes a tombstone: a Presence with
// Withdrawn set, no addresses, and a higher sequence number, so that lookups
// answer "offline" instead of returning stale addresses.
const (
	// PresenceNamespace is the DHT record namespace of presence records.
	PresenceNamespace = "peercall"

	// PresenceDomain is the libp2p envelope signature domain of presence
	// records: a signature made for any other record type never verifies as
	// a presence record.
	PresenceDomain = "peercall-presence"

	// MaxPresenceSize bounds a presence value (the whole signed envelope) and
	// its payload, in bytes.
	MaxPresenceSize = 8 << 10

	// MaxPresenceAddrs is the most addresses one record may carry.
	MaxPresenceAddrs = 32

	// MaxPresenceAddrLen bounds one binary multiaddr, in bytes; a relay
	// circuit address with two peer IDs needs about 120.
	MaxPresenceAddrLen = 512

	// PresenceVersion is the only payload version this package writes and
	// reads.
	PresenceVersion = 1
)

// presenceCodecNumber is in the multicodec private-use range
// (0x300000-0x3fffff); PresenceCodec is its unsigned varint, as libp2p's own
// peer record uses the varint of its registered code.
const presenceCodecNumber = 0x300c01

// PresenceCodec is the envelope payload type of presence records.
var PresenceCodec = binary.AppendUvarint(nil, presenceCodecNumber)

// presenceMagic opens every presence payload.
var presenceMagic = [4]byte{'P', 'C', 'P', 'R'}

// flagWithdrawn marks a tombstone; every other flag bit must be zero.
const flagWithdrawn = 1

// Time bounds of Expires, as for certificates: 1970..9999 UTC.
const (
	minPresenceUnix = 0
	maxPresenceUnix = 253402300799
)

// ErrPresenceMalformed is wrapped by every payload decoding error.
var ErrPresenceMalformed = errors.New("presence record is malformed")

func init() {
	record.RegisterType(&Presence{})
}

var _ record.Record = (*Presence)(nil)

// Presence says where the holder of Certificate can be reached until
// Expires, or, when Withdrawn is set, that it went offline.
type Presence struct {
	Certificate *crypto.Certificate // the directory's certificate for the user
	PeerID      peer.ID             // the node's peer ID; must be the envelope signer
	Addrs       []ma.Multiaddr      // direct and relay-circuit addresses; none when Withdrawn
	Seq         uint64              // higher wins; time-based (Unix nanoseconds), never 0
	Expires     time.Time           // second precision
	Withdrawn   bool                // a tombstone published at clean shutdown
}

// PresenceKey returns the DHT key of a user's presence record. name must be
// the normalised username (directory.Normalize), as in the certificate.
func PresenceKey(name string) string {
	return "/" + PresenceNamespace + "/" + name
}

// presenceName returns the username a DHT key names.
func presenceName(key string) (string, error) {
	name, ok := strings.CutPrefix(key, "/"+PresenceNamespace+"/")
	if !ok || name == "" || len(name) > crypto.MaxUsernameLen {
		return "", fmt.Errorf("presence key %q is not /%s/<username of 1..%d bytes>", presenceClip(key, 80), PresenceNamespace, crypto.MaxUsernameLen)
	}
	return name, nil
}

// Domain implements record.Record.
func (*Presence) Domain() string { return PresenceDomain }

// Codec implements record.Record.
func (*Presence) Codec() []byte { return PresenceCodec }

// MarshalRecord implements record.Record. The encoding is canonical, all
// integers big-endian:
//
//	magic       4 bytes  "PCPR"
//	version     1 byte   PresenceVersion
//	flags       1 byte   bit 0: withdrawn; the others zero
//	seq         8 bytes  (not 0)
//	expires     8 bytes  signed Unix seconds
//	peer ID     1-byte length, then the peer ID bytes
//	certificate 2-byte length, then crypto.Certificate.Marshal
//	addresses   1-byte count (0..32; 0 when withdrawn), then for each a
//	            2-byte length (1..512) and the binary multiaddr
//
// The whole payload is at most MaxPresenceSize bytes.
func (p *Presence) MarshalRecord() ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("encode presence record: %w", err)
	}
	cert := p.Certificate.Marshal()
	b := make([]byte, 0, 64+len(cert)+len(p.Addrs)*64)
	b = append(b, presenceMagic[:]...)
	b = append(b, PresenceVersion)
	var flags byte
	if p.Withdrawn {
		flags |= flagWithdrawn
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint64(b, p.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(p.Expires.Unix()))
	b = append(b, byte(len(p.PeerID)))
	b = append(b, p.PeerID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(cert)))
	b = append(b, cert...)
	b = append(b, byte(len(p.Addrs)))
	for _, a := range p.Addrs {
		ab := a.Bytes()
		b = binary.BigEndian.AppendUint16(b, uint16(len(ab)))
		b = append(b, ab...)
	}
	if len(b) > MaxPresenceSize {
		return nil, fmt.Errorf("encode presence record: %d bytes, limit %d; publish fewer addresses: %w", len(b), MaxPresenceSize, ErrPresenceMalformed)
	}
	return b, nil
}

// check validates the fields that the encoding constrains.
func (p *Presence) check() error {
	if p.Certificate == nil {
		return fmt.Errorf("no certificate (log in first): %w", ErrPresenceMalformed)
	}
	if p.Seq == 0 {
		return fmt.Errorf("sequence number is 0: %w", ErrPresenceMalformed)
	}
	if err := p.PeerID.Validate(); err != nil || len(p.PeerID) > 255 {
		return fmt.Errorf("peer ID is not valid: %w", ErrPresenceMalformed)
	}
	if s := p.Expires.Unix(); s < minPresenceUnix || s > maxPresenceUnix {
		return fmt.Errorf("expiry %v outside years 1970..9999: %w", p.Expires, ErrPresenceMalformed)
	}
	if len(p.Addrs) > MaxPresenceAddrs {
		return fmt.Errorf("%d addresses, limit %d: %w", len(p.Addrs), MaxPresenceAddrs, ErrPresenceMalformed)
	}
	if p.Withdrawn && len(p.Addrs) != 0 {
		return fmt.Errorf("a withdrawn record carries %d addresses, want none: %w", len(p.Addrs), ErrPresenceMalformed)
	}
	for i, a := range p.Addrs {
		if n := len(a.Bytes()); n == 0 || n > MaxPresenceAddrLen {
			return fmt.Errorf("address %d is %d bytes, want 1..%d: %w", i, n, MaxPresenceAddrLen, ErrPresenceMalformed)
		}
	}
	return nil
}

// UnmarshalRecord implements record.Record. It decodes strictly: at most
// MaxPresenceSize bytes, known magic, version and flags, exact lengths, a
// valid peer ID, certificate and multiaddrs, no trailing bytes, and only the
// canonical encoding. It checks no signature and no time: that is the
// validator's job.
func (p *Presence) UnmarshalRecord(b []byte) error {
	q, err := decodePresence(b)
	if err != nil {
		return fmt.Errorf("decode presence record: %w", err)
	}
	*p = *q
	return nil
}

func decodePresence(b []byte) (*Presence, error) {
	if len(b) > MaxPresenceSize {
		return nil, fmt.Errorf("%d bytes, limit %d: %w", len(b), MaxPresenceSize, ErrPresenceMalformed)
	}
	r := presenceReader{b: b}
	if m := r.next(len(presenceMagic)); string(m) != string(presenceMagic[:]) {
		return nil, fmt.Errorf("does not start with %q (is it a peercall presence record?): %w", presenceMagic[:], ErrPresenceMalformed)
	}
	if v := r.byte(); v != PresenceVersion && !r.short {
		return nil, fmt.Errorf("version %d, this program understands %d; upgrade peercall: %w", v, PresenceVersion, ErrPresenceMalformed)
	}
	flags := r.byte()
	if flags&^flagWithdrawn != 0 {
		return nil, fmt.Errorf("unknown flags %#x: %w", flags, ErrPresenceMalformed)
	}
	p := &Presence{Withdrawn: flags&flagWithdrawn != 0}
	p.Seq = r.uint64()
	expires := int64(r.uint64())
	pid := r.next(int(r.byte()))
	certBytes := r.next(int(r.uint16()))
	n := int(r.byte())
	if r.short {
		return nil, fmt.Errorf("truncated after %d of %d bytes: %w", r.off, len(b), ErrPresenceMalformed)
	}
	if n > MaxPresenceAddrs {
		return nil, fmt.Errorf("%d addresses, limit %d: %w", n, MaxPresenceAddrs, ErrPresenceMalformed)
	}
	for i := range n {
		ab := r.next(int(r.uint16()))
		if r.short {
			return nil, fmt.Errorf("address %d truncated: %w", i, ErrPresenceMalformed)
		}
		if len(ab) == 0 || len(ab) > MaxPresenceAddrLen {
			return nil, fmt.Errorf("address %d is %d bytes, want 1..%d: %w", i, len(ab), MaxPresenceAddrLen, ErrPresenceMalformed)
		}
		a, err := ma.NewMultiaddrBytes(ab)
		if err != nil {
			return nil, fmt.Errorf("address %d is not a multiaddr (%v): %w", i, err, ErrPresenceMalformed)
		}
		p.Addrs = append(p.Addrs, a)
	}
	if r.off != len(b) {
		return nil, fmt.Errorf("%d trailing bytes: %w", len(b)-r.off, ErrPresenceMalformed)
	}
	if expires < minPresenceUnix || expires > maxPresenceUnix {
		return nil, fmt.Errorf("expiry %d outside years 1970..9999: %w", expires, ErrPresenceMalformed)
	}
	p.Expires = time.Unix(expires, 0).UTC()
	id, err := peer.IDFromBytes(pid)
	if err != nil {
		return nil, fmt.Errorf("peer ID is not valid (%v): %w", err, ErrPresenceMalformed)
	}
	p.PeerID = id
	cert, err := crypto.ParseCertificate(certBytes)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w: %w", ErrPresenceMalformed, err)
	}
	p.Certificate = cert
	if err := p.check(); err != nil {
		return nil, err
	}
	// Canonical form only: one record, one encoding.
	again, err := p.MarshalRecord()
	if err != nil || string(again) != string(b) {
		return nil, fmt.Errorf("not the canonical encoding: %w", ErrPresenceMalformed)
	}
	return p, nil
}

// presenceReader reads big-endian fields from b; once a read runs past the end,
// short is set and every later read returns zero values.
type presenceReader struct {
	b     []byte
	off   int
	short bool
}

func (r *presenceReader) next(n int) []byte {
	if r.short || len(r.b)-r.off < n {
		r.short = true
		return nil
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

func (r *presenceReader) byte() byte {
	if v := r.next(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *presenceReader) uint16() uint16 {
	if v := r.next(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *presenceReader) uint64() uint64 {
	if v := r.next(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// presenceClip shortens s for error messages.
func presenceClip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
