package crypto

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/peercall/peercall/internal/wire"
)

// MaxRevocations is the most entries one revocation list holds. An entry
// leaves the list when the certificate it revokes expires, so this bounds
// the certificates revoked within one certificate lifetime.
const MaxRevocations = 32768

// MaxRevocationListSize is the largest encoding ParseRevocationList reads.
const MaxRevocationListSize = 4 + 1 + 8 + 8 + MaxRevocations*16 + 1 + ed25519.SignatureSize

// revocationSigningPrefix separates revocation-list signatures from
// certificate signatures and every other use of the directory key.
const revocationSigningPrefix = "peercall-revocations-v1\x00"

var revocationMagic = [4]byte{'P', 'C', 'R', 'L'}

// Errors of ParseRevocationList and Verify; test with errors.Is.
var (
	ErrRevocationsMalformed = errors.New("revocation list is malformed")
	ErrRevocationsSignature = errors.New("revocation list signature is not valid for this directory key")
	// ErrCertificateRevoked is what every check of a certificate on a
	// revocation list wraps.
	ErrCertificateRevoked = errors.New("certificate has been revoked")
)

// Revoked is one entry of a revocation list: a certificate serial and when
// that certificate expires (after which it needs no listing).
type Revoked struct {
	Serial  uint64
	Expires time.Time // second precision
}

// RevocationList is the directory's signed list of the serials of
// certificates revoked before their expiry, as of Issued.
//
// Marshal encodes it canonically, integers big-endian:
//
//	magic     4 bytes  "PCRL"
//	version   1 byte   1
//	issued    8 bytes  signed Unix seconds
//	count     8 bytes  (at most MaxRevocations)
//	entries   count x (serial 8 bytes, expires 8 bytes), serials strictly increasing
//	signature 1-byte length (64), then the directory key's ed25519 signature
//	          over "peercall-revocations-v1\x00" and every byte before it
type RevocationList struct {
	Issued    time.Time
	Entries   []Revoked
	Signature []byte
}

// SignRevocationList signs a list of entries as of issued (truncated to
// the second); entries are sorted by serial, duplicates dropped.
func SignRevocationList(directoryKey ed25519.PrivateKey, issued time.Time, entries []Revoked) (*RevocationList, error) {
	if len(directoryKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign revocation list: directory key is %d bytes, want %d", len(directoryKey), ed25519.PrivateKeySize)
	}
	es := slices.Clone(entries)
	slices.SortFunc(es, func(a, b Revoked) int { return cmpU64(a.Serial, b.Serial) })
	es = slices.CompactFunc(es, func(a, b Revoked) bool { return a.Serial == b.Serial })
	if len(es) > MaxRevocations {
		return nil, fmt.Errorf("sign revocation list: %d entries, at most %d fit", len(es), MaxRevocations)
	}
	for i := range es {
		es[i].Expires = es[i].Expires.UTC().Truncate(time.Second)
	}
	l := &RevocationList{Issued: issued.UTC().Truncate(time.Second), Entries: es}
	l.Signature = ed25519.Sign(directoryKey, l.signedMessage())
	return l, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (l *RevocationList) appendUnsigned(b []byte) []byte {
	b = append(b, revocationMagic[:]...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint64(b, uint64(l.Issued.Unix()))
	b = binary.BigEndian.AppendUint64(b, uint64(len(l.Entries)))
	for _, e := range l.Entries {
		b = binary.BigEndian.AppendUint64(b, e.Serial)
		b = binary.BigEndian.AppendUint64(b, uint64(e.Expires.Unix()))
	}
	return b
}

func (l *RevocationList) signedMessage() []byte {
	return l.appendUnsigned([]byte(revocationSigningPrefix))
}

// Marshal returns the canonical encoding described on RevocationList.
func (l *RevocationList) Marshal() []byte {
	b := l.appendUnsigned(make([]byte, 0, 96+16*len(l.Entries)))
	return appendShortBytes(b, l.Signature)
}

// ParseRevocationList decodes a list strictly (size, version, ascending
// serials, times within years 1970..9999, no trailing bytes). It does not
// check the signature; call Verify.
func ParseRevocationList(b []byte) (*RevocationList, error) {
	if len(b) > MaxRevocationListSize {
		return nil, fmt.Errorf("parse revocation list: %d bytes, limit %d: %w", len(b), MaxRevocationListSize, ErrRevocationsMalformed)
	}
	r := wire.NewReader(b, ErrRevocationsMalformed)
	r.Expect(revocationMagic[:], "a peercall revocation list")
	if v := r.Uint8(); r.Err() == nil && v != 1 {
		return nil, fmt.Errorf("parse revocation list: version %d, this program understands 1; upgrade peercall: %w", v, ErrRevocationsMalformed)
	}
	issued := int64(r.Uint64())
	n := r.Uint64()
	if r.Err() == nil && (n > MaxRevocations || n*16 > uint64(r.Len())) {
		return nil, fmt.Errorf("parse revocation list: %d entries announced, %d bytes left (at most %d entries): %w", n, r.Len(), MaxRevocations, ErrRevocationsMalformed)
	}
	l := &RevocationList{Issued: time.Unix(issued, 0).UTC()}
	ok := issued >= minCertUnix && issued <= maxCertUnix
	for i := uint64(0); i < n && r.Err() == nil; i++ {
		e := Revoked{Serial: r.Uint64()}
		ex := int64(r.Uint64())
		e.Expires = time.Unix(ex, 0).UTC()
		ok = ok && ex >= minCertUnix && ex <= maxCertUnix && (i == 0 || e.Serial > l.Entries[i-1].Serial)
		l.Entries = append(l.Entries, e)
	}
	l.Signature = r.Bytes8(ed25519.SignatureSize, ed25519.SignatureSize, "signature")
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("parse revocation list: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("parse revocation list: a time outside years 1970..9999 or serials not strictly increasing: %w", ErrRevocationsMalformed)
	}
	l.Signature = slices.Clone(l.Signature)
	return l, nil
}

// Verify checks that directoryKey signed the list and that it was not
// issued more than ClockSkew after now.
func (l *RevocationList) Verify(directoryKey ed25519.PublicKey, now time.Time) error {
	if len(directoryKey) != ed25519.PublicKeySize || len(l.Signature) != ed25519.SignatureSize ||
		!ed25519.Verify(directoryKey, l.signedMessage(), l.Signature) {
		return fmt.Errorf("verify revocation list: not signed by directory key %s: %w", EncodePublicKey(directoryKey), ErrRevocationsSignature)
	}
	if now.Add(ClockSkew).Before(l.Issued) {
		return fmt.Errorf("verify revocation list: issued %s, after now (plus %v); check this machine's clock: %w", l.Issued.Format(time.RFC3339), ClockSkew, ErrRevocationsMalformed)
	}
	return nil
}

// Revokes reports whether serial is on the list.
func (l *RevocationList) Revokes(serial uint64) bool {
	if l == nil {
		return false
	}
	_, found := slices.BinarySearchFunc(l.Entries, serial, func(e Revoked, s uint64) int { return cmpU64(e.Serial, s) })
	return found
}
