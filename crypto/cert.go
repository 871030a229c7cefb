package crypto

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/peercall/peercall/internal/wire"
)

// CertificateVersion is the only certificate format version this package
// issues and accepts.
const CertificateVersion = 1

// MaxCertificateSize is the largest Marshal output ParseCertificate accepts.
// A version-1 certificate is at most 192 bytes.
const MaxCertificateSize = 1024

// MaxUsernameLen is the longest username, in bytes, a certificate may carry.
const MaxUsernameLen = 64

// ClockSkew is how far in the future a certificate's Issued time may be and
// still verify, to tolerate clocks that disagree.
const ClockSkew = 5 * time.Minute

// certSigningPrefix separates certificate signatures from every other use
// of the directory key.
const certSigningPrefix = "peercall-cert-v1\x00"

// certMagic opens every encoded certificate.
var certMagic = [4]byte{'P', 'C', 'C', 'T'}

// Time bounds of Issued and Expires: 1970-01-01 to 9999-12-31 UTC.
const (
	minCertUnix = 0
	maxCertUnix = 253402300799
)

// Errors of ParseCertificate and Verify; they are wrapped with details, so
// test with errors.Is.
var (
	ErrCertificateMalformed   = errors.New("certificate is malformed")
	ErrCertificateVersion     = errors.New("certificate version is not supported")
	ErrCertificateSignature   = errors.New("certificate signature is not valid for this directory key")
	ErrCertificateExpired     = errors.New("certificate has expired")
	ErrCertificateNotYetValid = errors.New("certificate is not yet valid")
	ErrCertificatePeer        = errors.New("certificate names another peer")
)

// Certificate is the directory's statement that Username is held by the node
// whose identity key is PeerKey, from Issued until Expires.
//
// Marshal encodes it canonically, all integers big-endian:
//
//	magic     4 bytes  "PCCT"
//	version   1 byte   CertificateVersion
//	username  1-byte length (1..64), then the UTF-8 bytes
//	peer key  1-byte length (32), then the ed25519 public key
//	issued    8 bytes  signed Unix seconds
//	expires   8 bytes  signed Unix seconds
//	serial    8 bytes
//	signature 1-byte length (64), then the ed25519 signature
//
// The signature is the directory key's ed25519 signature over
// "peercall-cert-v1\x00" followed by every byte before the signature field.
type Certificate struct {
	Version   uint8
	Username  string            // normalised username (1..64 bytes, valid UTF-8, no control chars)
	PeerKey   ed25519.PublicKey // the node's identity key
	Issued    time.Time         // second precision, UTC
	Expires   time.Time
	Serial    uint64
	Signature []byte // ed25519 signature by the directory key
}

// IssueCertificate signs a certificate binding username to peerKey, valid
// from issued (truncated to the second) for validity (rounded down to the
// second). The username must already be normalised by the caller.
func IssueCertificate(directoryKey ed25519.PrivateKey, username string, peerKey ed25519.PublicKey, serial uint64, issued time.Time, validity time.Duration) (*Certificate, error) {
	if len(directoryKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("issue certificate: directory key is %d bytes, want %d", len(directoryKey), ed25519.PrivateKeySize)
	}
	if validity < time.Second {
		return nil, fmt.Errorf("issue certificate: validity %v is shorter than one second; configure a positive certificate lifetime", validity)
	}
	issued = issued.UTC().Truncate(time.Second)
	c := &Certificate{
		Version:  CertificateVersion,
		Username: username,
		PeerKey:  append(ed25519.PublicKey(nil), peerKey...),
		Issued:   issued,
		Expires:  issued.Add(validity.Truncate(time.Second)),
		Serial:   serial,
	}
	if err := c.checkFields(); err != nil {
		return nil, fmt.Errorf("issue certificate for %q: %w", username, err)
	}
	c.Signature = ed25519.Sign(directoryKey, c.signedMessage())
	return c, nil
}

// checkFields validates everything but the version and the signature.
func (c *Certificate) checkFields() error {
	if err := checkUsername(c.Username); err != nil {
		return err
	}
	if len(c.PeerKey) != ed25519.PublicKeySize {
		return fmt.Errorf("peer key is %d bytes, want %d: %w", len(c.PeerKey), ed25519.PublicKeySize, ErrCertificateMalformed)
	}
	is, ex := c.Issued.Unix(), c.Expires.Unix()
	if is < minCertUnix || is > maxCertUnix || ex < minCertUnix || ex > maxCertUnix {
		return fmt.Errorf("issued %v or expires %v outside years 1970..9999: %w", c.Issued, c.Expires, ErrCertificateMalformed)
	}
	if ex <= is {
		return fmt.Errorf("expires %v is not after issued %v: %w", c.Expires, c.Issued, ErrCertificateMalformed)
	}
	return nil
}

// checkUsername applies the byte-level username rules; normalisation (PRECIS)
// is the directory's job.
func checkUsername(u string) error {
	if len(u) == 0 || len(u) > MaxUsernameLen {
		return fmt.Errorf("username is %d bytes, want 1..%d: %w", len(u), MaxUsernameLen, ErrCertificateMalformed)
	}
	if !utf8.ValidString(u) {
		return fmt.Errorf("username %q is not valid UTF-8: %w", u, ErrCertificateMalformed)
	}
	for _, r := range u {
		if unicode.IsControl(r) {
			return fmt.Errorf("username %q contains control character %U: %w", u, r, ErrCertificateMalformed)
		}
	}
	return nil
}

// appendUnsigned appends the encoding of every field but the signature.
func (c *Certificate) appendUnsigned(b []byte) []byte {
	b = append(b, certMagic[:]...)
	b = append(b, c.Version)
	b = appendShortBytes(b, []byte(c.Username))
	b = appendShortBytes(b, c.PeerKey)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Issued.Unix()))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Expires.Unix()))
	b = binary.BigEndian.AppendUint64(b, c.Serial)
	return b
}

// appendShortBytes appends a 1-byte length and v. Longer values (never valid)
// are cut at 255 bytes, and ParseCertificate then rejects the result.
func appendShortBytes(b, v []byte) []byte {
	if len(v) > 255 {
		v = v[:255]
	}
	b = append(b, byte(len(v)))
	return append(b, v...)
}

// signedMessage is what the directory signs.
func (c *Certificate) signedMessage() []byte {
	b := make([]byte, 0, len(certSigningPrefix)+MaxCertificateSize)
	b = append(b, certSigningPrefix...)
	return c.appendUnsigned(b)
}

// Marshal returns the canonical encoding described on Certificate. A
// certificate from IssueCertificate or ParseCertificate round-trips exactly.
func (c *Certificate) Marshal() []byte {
	b := c.appendUnsigned(make([]byte, 0, 200))
	return appendShortBytes(b, c.Signature)
}

// ParseCertificate decodes a certificate strictly: at most
// MaxCertificateSize bytes, known version, exact field lengths, valid
// username and times, no trailing bytes, and only the canonical encoding. It
// does not check the signature or the validity period; call Verify.
func ParseCertificate(b []byte) (*Certificate, error) {
	if len(b) > MaxCertificateSize {
		return nil, fmt.Errorf("parse certificate: %d bytes, limit %d: %w", len(b), MaxCertificateSize, ErrCertificateMalformed)
	}
	r := wire.NewReader(b, ErrCertificateMalformed)
	r.Expect(certMagic[:], "a peercall certificate")
	c := &Certificate{Version: r.Uint8()}
	if r.Err() == nil && c.Version != CertificateVersion {
		return nil, fmt.Errorf("parse certificate: version %d, this program understands %d; upgrade peercall: %w", c.Version, CertificateVersion, ErrCertificateVersion)
	}
	c.Username = string(r.Bytes8(0, 255, "username"))
	c.PeerKey = ed25519.PublicKey(bytes.Clone(r.Bytes8(0, 255, "peer key")))
	c.Issued = time.Unix(int64(r.Uint64()), 0).UTC()
	c.Expires = time.Unix(int64(r.Uint64()), 0).UTC()
	c.Serial = r.Uint64()
	c.Signature = bytes.Clone(r.Bytes8(0, 255, "signature"))
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	// Range-check the raw times before checkFields reads them through time.Time.
	if err := c.checkFields(); err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	if len(c.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("parse certificate: signature is %d bytes, want %d: %w", len(c.Signature), ed25519.SignatureSize, ErrCertificateMalformed)
	}
	if string(c.Marshal()) != string(b) {
		return nil, fmt.Errorf("parse certificate: not the canonical encoding: %w", ErrCertificateMalformed)
	}
	return c, nil
}

// Verify checks that directoryKey signed c, that c's version is supported,
// and that now lies in [Issued-ClockSkew, Expires). The signature is checked
// before the times, so a forged certificate reports ErrCertificateSignature
// whatever its dates.
func (c *Certificate) Verify(directoryKey ed25519.PublicKey, now time.Time) error {
	if c.Version != CertificateVersion {
		return fmt.Errorf("verify certificate: version %d, this program understands %d; upgrade peercall: %w", c.Version, CertificateVersion, ErrCertificateVersion)
	}
	if err := c.checkFields(); err != nil {
		return fmt.Errorf("verify certificate: %w", err)
	}
	if len(directoryKey) != ed25519.PublicKeySize {
		return fmt.Errorf("verify certificate of %q: directory key is %d bytes, want %d; check the pinned directory key: %w",
			c.Username, len(directoryKey), ed25519.PublicKeySize, ErrCertificateSignature)
	}
	if len(c.Signature) != ed25519.SignatureSize || !ed25519.Verify(directoryKey, c.signedMessage(), c.Signature) {
		return fmt.Errorf("verify certificate of %q: not signed by directory key %s (forged, tampered, or from another directory): %w",
			c.Username, EncodePublicKey(directoryKey), ErrCertificateSignature)
	}
	if now.Add(ClockSkew).Before(c.Issued) {
		return fmt.Errorf("verify certificate of %q: issued %s, after now %s (plus %v skew); check this machine's clock: %w",
			c.Username, c.Issued.Format(time.RFC3339), now.UTC().Format(time.RFC3339), ClockSkew, ErrCertificateNotYetValid)
	}
	if !now.Before(c.Expires) {
		return fmt.Errorf("verify certificate of %q: expired at %s (now %s); the holder must log in again (`peercall login`): %w",
			c.Username, c.Expires.Format(time.RFC3339), now.UTC().Format(time.RFC3339), ErrCertificateExpired)
	}
	return nil
}

// VerifyPeer is Verify plus a check that c certifies peerKey, the identity
// key of the node presenting it (the remote key of an authenticated
// stream). A valid certificate of someone else's node gives
// ErrCertificatePeer.
func (c *Certificate) VerifyPeer(directoryKey, peerKey ed25519.PublicKey, now time.Time) error {
	if err := c.Verify(directoryKey, now); err != nil {
		return err
	}
	if !c.PeerKey.Equal(peerKey) {
		return fmt.Errorf("verify certificate of %q: it certifies node key %s, but the node presenting it has %s; the peer is not who the certificate names: %w",
			c.Username, EncodePublicKey(c.PeerKey), EncodePublicKey(peerKey), ErrCertificatePeer)
	}
	return nil
}
