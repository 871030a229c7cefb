package presence

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	dhtrecord "github.com/libp2p/go-libp2p-record"
	ic "github.com/libp2p/go-libp2p/core/crypto"
	icpb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"

	"github.com/peercall/peercall/crypto"
)

// MaxTTL is the furthest in the future a presence record may expire.
// A record that claims longer would keep stale addresses alive for too long.
const MaxTTL = 24 * time.Hour

// Rejections of Validator. Each is wrapped with the details; test
// with errors.Is. ErrMalformed (presence.go) is one of them too.
var (
	ErrTooLarge        = errors.New("presence record is too large")
	ErrBadKey          = errors.New("DHT key is not a presence key")
	ErrUnsigned        = errors.New("presence record is not a signed envelope")
	ErrForged          = errors.New("presence record signature is not valid")
	ErrExpired         = errors.New("presence record has expired")
	ErrFarFuture       = errors.New("presence record expires too far in the future")
	ErrBadCertificate  = errors.New("presence record certificate is not valid")
	ErrCertKeyMismatch = errors.New("presence record certificate is for another node key")
	ErrPeerMismatch    = errors.New("presence record peer ID is not its signer's")
	ErrNameMismatch    = errors.New("presence record certificate is for another username")
	ErrNoneValid       = errors.New("no valid presence record to select")
)

// Validator is the DHT record validator of the "peercall" namespace.
// Every DHT node runs it on every record it stores or receives, so a record
// that is unsigned, forged, expired or does not belong under its key is
// refused by the whole network, not only by the caller.
type Validator struct {
	directoryKey ed25519.PublicKey
	now          func() time.Time
}

var _ dhtrecord.Validator = (*Validator)(nil)

// NewValidator returns a validator that trusts certificates signed by
// directoryKey (the pinned directory key) and reads the time from now
// (time.Now when nil).
func NewValidator(directoryKey ed25519.PublicKey, now func() time.Time) (*Validator, error) {
	if len(directoryKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("presence validator: directory key is %d bytes, want %d; run `peercall init` with the directory's public key", len(directoryKey), ed25519.PublicKeySize)
	}
	if now == nil {
		now = time.Now
	}
	return &Validator{directoryKey: append(ed25519.PublicKey(nil), directoryKey...), now: now}, nil
}

// Validate implements record.Validator.
func (v *Validator) Validate(key string, value []byte) error {
	_, err := v.Open(key, value)
	return err
}

// Open validates value as the presence record stored under key and returns
// it. It checks, in this order: size, key, envelope encoding, envelope
// signature (domain SignatureDomain), payload encoding, that the certificate
// names the signer's key, that the record's peer ID is the signer's, that the
// certificate's username is the key's, the certificate (directory signature
// and validity period), and the record's expiry.
func (v *Validator) Open(key string, value []byte) (*Record, error) {
	if len(value) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes under %q, limit %d", ErrTooLarge, len(value), clip(key, 80), MaxSize)
	}
	name, err := nameOf(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	env, err := record.UnmarshalEnvelope(value)
	if err != nil {
		return nil, fmt.Errorf("%w: value under %q does not decode as a libp2p envelope (%v); only records sealed by a peercall node are accepted", ErrUnsigned, key, err)
	}
	if canon, err := env.Marshal(); err != nil || !bytes.Equal(canon, value) {
		return nil, fmt.Errorf("envelope under %q is not canonically encoded (extra or reordered fields): %w", key, ErrMalformed)
	}
	if !bytes.Equal(env.PayloadType, Codec) {
		return nil, fmt.Errorf("envelope under %q carries payload type %x, want %x: %w", key, env.PayloadType, Codec, ErrMalformed)
	}
	p := new(Record)
	if _, err := record.ConsumeTypedEnvelope(value, p); err != nil {
		if errors.Is(err, record.ErrInvalidSignature) || !errors.Is(err, ErrMalformed) {
			return nil, fmt.Errorf("%w: envelope under %q is not signed by the key it names (forged or tampered): %w", ErrForged, key, err)
		}
		return nil, fmt.Errorf("record under %q: %w", key, err)
	}
	signer, err := Ed25519Key(env.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: record under %q: %w", ErrCertKeyMismatch, key, err)
	}
	if !bytes.Equal(p.Certificate.PeerKey, signer) {
		return nil, fmt.Errorf("%w: record under %q is signed by node key %s but carries the certificate of %q for node key %s",
			ErrCertKeyMismatch, key, crypto.EncodePublicKey(signer), p.Certificate.Username, crypto.EncodePublicKey(p.Certificate.PeerKey))
	}
	signerID, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil || signerID != p.PeerID {
		return nil, fmt.Errorf("%w: record under %q names peer %s but is signed by peer %s", ErrPeerMismatch, key, p.PeerID, signerID)
	}
	if p.Certificate.Username != name {
		return nil, fmt.Errorf("%w: record stored under %q carries the certificate of %q", ErrNameMismatch, key, p.Certificate.Username)
	}
	now := v.now()
	if err := p.Certificate.Verify(v.directoryKey, now); err != nil {
		return nil, fmt.Errorf("%w: record under %q: %w", ErrBadCertificate, key, err)
	}
	if !now.Before(p.Expires) {
		return nil, fmt.Errorf("%w: record under %q expired at %s (now %s); the node must republish",
			ErrExpired, key, p.Expires.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if limit := now.Add(MaxTTL + crypto.ClockSkew); p.Expires.After(limit) {
		return nil, fmt.Errorf("%w: record under %q expires at %s, after the limit %s (now plus %v); check the publisher's clock",
			ErrFarFuture, key, p.Expires.Format(time.RFC3339), limit.UTC().Format(time.RFC3339), MaxTTL)
	}
	return p, nil
}

// Ed25519Key returns the raw ed25519 key of a libp2p public key.
func Ed25519Key(k ic.PubKey) (ed25519.PublicKey, error) {
	if k == nil || k.Type() != icpb.KeyType_Ed25519 {
		return nil, errors.New("the envelope is signed with a non-ed25519 key; peercall node keys are ed25519")
	}
	raw, err := k.Raw()
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("the envelope's ed25519 key does not decode (%v)", err)
	}
	return ed25519.PublicKey(raw), nil
}

// Select implements record.Validator: among the valid values it picks the
// highest sequence number; at equal sequence numbers a tombstone beats a live
// record, then the later expiry wins, then the earlier index. Invalid values
// are skipped; if none is valid it returns an error wrapping
// ErrNoneValid and the first value's rejection.
func (v *Validator) Select(key string, values [][]byte) (int, error) {
	best, bestIdx := (*Record)(nil), -1
	var firstErr error
	for i, val := range values {
		p, err := v.Open(key, val)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if best == nil || better(p, best) {
			best, bestIdx = p, i
		}
	}
	if best == nil {
		if firstErr == nil {
			firstErr = errors.New("no values")
		}
		return 0, fmt.Errorf("%w among %d values under %q: %w", ErrNoneValid, len(values), clip(key, 80), firstErr)
	}
	return bestIdx, nil
}

// better reports whether a should replace b.
func better(a, b *Record) bool {
	if a.Seq != b.Seq {
		return a.Seq > b.Seq
	}
	if a.Withdrawn != b.Withdrawn {
		return a.Withdrawn
	}
	return a.Expires.After(b.Expires)
}
