package presence

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
	"github.com/peercall/peercall/internal/wire"
)

// Record format constants (see the package documentation).
const (
	// Namespace is the DHT record namespace of presence records.
	Namespace = "peercall"

	// SignatureDomain is the libp2p envelope signature domain of presence
	// records: a signature made for any other record type never verifies as
	// a presence record.
	SignatureDomain = "peercall-presence"

	// MaxSize bounds a presence value (the whole signed envelope) and
	// its payload, in bytes.
	MaxSize = 8 << 10

	// MaxAddrs is the most addresses one record may carry.
	MaxAddrs = 32

	// MaxAddrLen bounds one binary multiaddr, in bytes; a relay
	// circuit address with two peer IDs needs about 120.
	MaxAddrLen = 512

	// Version is the only payload version this package writes and
	// reads.
	Version = 1
)

// codecNumber is in the multicodec private-use range
// (0x300000-0x3fffff); Codec is its unsigned varint, as libp2p's own
// peer record uses the varint of its registered code.
const codecNumber = 0x300c01

// Codec is the envelope payload type of presence records.
var Codec = binary.AppendUvarint(nil, codecNumber)

// magic opens every presence payload.
var magic = [4]byte{'P', 'C', 'P', 'R'}

// flagWithdrawn marks a tombstone; every other flag bit must be zero.
const flagWithdrawn = 1

// Time bounds of Expires, as for certificates: 1970..9999 UTC.
const (
	minUnix = 0
	maxUnix = 253402300799
)

// ErrMalformed is wrapped by every payload decoding error.
var ErrMalformed = errors.New("presence record is malformed")

func init() {
	record.RegisterType(&Record{})
}

var _ record.Record = (*Record)(nil)

// Record says where the holder of Certificate can be reached until
// Expires, or, when Withdrawn is set, that it went offline.
type Record struct {
	Certificate *crypto.Certificate // the directory's certificate for the user
	PeerID      peer.ID             // the node's peer ID; must be the envelope signer
	Addrs       []ma.Multiaddr      // direct and relay-circuit addresses; none when Withdrawn
	Seq         uint64              // higher wins; time-based (Unix nanoseconds), never 0
	Expires     time.Time           // second precision
	Withdrawn   bool                // a tombstone published at clean shutdown
}

// Key returns the DHT key of a user's presence record. name must be
// the normalised username (directory.Normalize), as in the certificate.
func Key(name string) string {
	return "/" + Namespace + "/" + name
}

// nameOf returns the username a DHT key names.
func nameOf(key string) (string, error) {
	name, ok := strings.CutPrefix(key, "/"+Namespace+"/")
	if !ok || name == "" || len(name) > crypto.MaxUsernameLen {
		return "", fmt.Errorf("presence key %q is not /%s/<username of 1..%d bytes>", clip(key, 80), Namespace, crypto.MaxUsernameLen)
	}
	return name, nil
}

// Domain implements record.Record.
func (*Record) Domain() string { return SignatureDomain }

// Codec implements record.Record.
func (*Record) Codec() []byte { return Codec }

// MarshalRecord implements record.Record. The encoding is canonical, all
// integers big-endian:
//
//	magic       4 bytes  "PCPR"
//	version     1 byte   Version
//	flags       1 byte   bit 0: withdrawn; the others zero
//	seq         8 bytes  (not 0)
//	expires     8 bytes  signed Unix seconds
//	peer ID     1-byte length, then the peer ID bytes
//	certificate 2-byte length, then crypto.Certificate.Marshal
//	addresses   1-byte count (0..32; 0 when withdrawn), then for each a
//	            2-byte length (1..512) and the binary multiaddr
//
// The whole payload is at most MaxSize bytes.
func (p *Record) MarshalRecord() ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("encode presence record: %w", err)
	}
	cert := p.Certificate.Marshal()
	b := make([]byte, 0, 64+len(cert)+len(p.Addrs)*64)
	b = append(b, magic[:]...)
	b = append(b, Version)
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
	if len(b) > MaxSize {
		return nil, fmt.Errorf("encode presence record: %d bytes, limit %d; publish fewer addresses: %w", len(b), MaxSize, ErrMalformed)
	}
	return b, nil
}

// check validates the fields that the encoding constrains.
func (p *Record) check() error {
	if p.Certificate == nil {
		return fmt.Errorf("no certificate (log in first): %w", ErrMalformed)
	}
	if p.Seq == 0 {
		return fmt.Errorf("sequence number is 0: %w", ErrMalformed)
	}
	if err := p.PeerID.Validate(); err != nil || len(p.PeerID) > 255 {
		return fmt.Errorf("peer ID is not valid: %w", ErrMalformed)
	}
	if s := p.Expires.Unix(); s < minUnix || s > maxUnix {
		return fmt.Errorf("expiry %v outside years 1970..9999: %w", p.Expires, ErrMalformed)
	}
	if len(p.Addrs) > MaxAddrs {
		return fmt.Errorf("%d addresses, limit %d: %w", len(p.Addrs), MaxAddrs, ErrMalformed)
	}
	if p.Withdrawn && len(p.Addrs) != 0 {
		return fmt.Errorf("a withdrawn record carries %d addresses, want none: %w", len(p.Addrs), ErrMalformed)
	}
	for i, a := range p.Addrs {
		if n := len(a.Bytes()); n == 0 || n > MaxAddrLen {
			return fmt.Errorf("address %d is %d bytes, want 1..%d: %w", i, n, MaxAddrLen, ErrMalformed)
		}
	}
	return nil
}

// UnmarshalRecord implements record.Record. It decodes strictly: at most
// MaxSize bytes, known magic, version and flags, exact lengths, a
// valid peer ID, certificate and multiaddrs, no trailing bytes, and only the
// canonical encoding. It checks no signature and no time: that is the
// validator's job.
func (p *Record) UnmarshalRecord(b []byte) error {
	q, err := decode(b)
	if err != nil {
		return fmt.Errorf("decode presence record: %w", err)
	}
	*p = *q
	return nil
}

func decode(b []byte) (*Record, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%d bytes, limit %d: %w", len(b), MaxSize, ErrMalformed)
	}
	r := wire.NewReader(b, ErrMalformed)
	r.Expect(magic[:], "a peercall presence record")
	if v := r.Uint8(); r.Err() == nil && v != Version {
		return nil, fmt.Errorf("version %d, this program understands %d; upgrade peercall: %w", v, Version, ErrMalformed)
	}
	flags := r.Uint8()
	if r.Err() == nil && flags&^flagWithdrawn != 0 {
		return nil, fmt.Errorf("unknown flags %#x: %w", flags, ErrMalformed)
	}
	p := &Record{Withdrawn: flags&flagWithdrawn != 0}
	p.Seq = r.Uint64()
	expires := int64(r.Uint64())
	pid := r.Bytes8(1, 255, "peer ID")
	certBytes := r.Bytes16(1, crypto.MaxCertificateSize, "certificate")
	n := int(r.Uint8())
	if r.Err() == nil && n > MaxAddrs {
		return nil, fmt.Errorf("%d addresses, limit %d: %w", n, MaxAddrs, ErrMalformed)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		ab := r.Bytes16(1, MaxAddrLen, fmt.Sprintf("address %d", i))
		if r.Err() != nil {
			break
		}
		a, err := ma.NewMultiaddrBytes(ab)
		if err != nil {
			return nil, fmt.Errorf("address %d is not a multiaddr (%v): %w", i, err, ErrMalformed)
		}
		p.Addrs = append(p.Addrs, a)
	}
	if err := r.Finish(); err != nil {
		return nil, err
	}
	if expires < minUnix || expires > maxUnix {
		return nil, fmt.Errorf("expiry %d outside years 1970..9999: %w", expires, ErrMalformed)
	}
	p.Expires = time.Unix(expires, 0).UTC()
	id, err := peer.IDFromBytes(pid)
	if err != nil {
		return nil, fmt.Errorf("peer ID is not valid (%v): %w", err, ErrMalformed)
	}
	p.PeerID = id
	cert, err := crypto.ParseCertificate(certBytes)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w: %w", ErrMalformed, err)
	}
	p.Certificate = cert
	if err := p.check(); err != nil {
		return nil, err
	}
	// Canonical form only: one record, one encoding.
	again, err := p.MarshalRecord()
	if err != nil || string(again) != string(b) {
		return nil, fmt.Errorf("not the canonical encoding: %w", ErrMalformed)
	}
	return p, nil
}

// clip shortens s for error messages.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
