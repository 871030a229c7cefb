package node

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

// MaxPresenceTTL is the furthest in the future a presence record may expire.
// A record that claims longer would keep stale addresses alive for too long.
const MaxPresenceTTL = 24 * time.Hour

// Rejections of PresenceValidator. Each is wrapped with the details; test
// with errors.Is. ErrPresenceMalformed (presence.go) is one of them too.
var (
	ErrPresenceTooLarge        = errors.New("presence record is too large")
	ErrPresenceBadKey          = errors.New("DHT key is not a presence key")
	ErrPresenceUnsigned        = errors.New("presence record is not a signed envelope")
	ErrPresenceForged          = errors.New("presence record signature is not valid")
	ErrPresenceExpired         = errors.New("presence record has expired")
	ErrPresenceFarFuture       = errors.New("presence record expires too far in the future")
	ErrPresenceCertificate     = errors.New("presence record certificate is not valid")
	ErrPresenceCertKeyMismatch = errors.New("presence record certificate is for another node key")
	ErrPresencePeerMismatch    = errors.New("presence record peer ID is not its signer's")
	ErrPresenceNameMismatch    = errors.New("presence record certificate is for another username")
	ErrPresenceNoneValid       = errors.New("no valid presence record to select")
)

// PresenceValidator is the DHT record validator of the "peercall" namespace.
// Every DHT node runs it on every record it stores or receives, so a record
// that is unsigned, forged, expired or does not belong under its key is
// refused by the whole network, not only by the caller.
type PresenceValidator struct {
	directoryKey ed25519.PublicKey
	now          func() time.Time
}

var _ dhtrecord.Validator = (*PresenceValidator)(nil)

// NewPresenceValidator returns a validator that trusts certificates signed by
// directoryKey (the pinned directory key) and reads the time from now
// (time.Now when nil).
func NewPresenceValidator(directoryKey ed25519.PublicKey, now func() time.Time) (*PresenceValidator, error) {
	if len(directoryKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("presence validator: directory key is %d bytes, want %d; run `peercall init` with the directory's public key", len(directoryKey), ed25519.PublicKeySize)
	}
	if now == nil {
		now = time.Now
	}
	return &PresenceValidator{directoryKey: append(ed25519.PublicKey(nil), directoryKey...), now: now}, nil
}

// Validate implements record.Validator.
func (v *PresenceValidator) Validate(key string, value []byte) error {
	_, err := v.Open(key, value)
	return err
}

// Open validates value as the presence record stored under key and returns
// it. It checks, in this order: size, key, envelope encoding, envelope
// signature (domain PresenceDomain), payload encoding, that the certificate
// names the signer's key, that the record's peer ID is the signer's, that the
// certificate's username is the key's, the certificate (directory signature
// and validity period), and the record's expiry.
func (v *PresenceValidator) Open(key string, value []byte) (*Presence, error) {
	if len(value) > MaxPresenceSize {
		return nil, fmt.Errorf("%w: %d bytes under %q, limit %d", ErrPresenceTooLarge, len(value), presenceClip(key, 80), MaxPresenceSize)
	}
	name, err := presenceName(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPresenceBadKey, err)
	}
	env, err := record.UnmarshalEnvelope(value)
	if err != nil {
		return nil, fmt.Errorf("%w: value under %q does not decode as a libp2p envelope (%v); only records sealed by a peercall node are accepted", ErrPresenceUnsigned, key, err)
	}
	if canon, err := env.Marshal(); err != nil || !bytes.Equal(canon, value) {
		return nil, fmt.Errorf("envelope under %q is not canonically encoded (extra or reordered fields): %w", key, ErrPresenceMalformed)
	}
	if !bytes.Equal(env.PayloadType, PresenceCodec) {
		return nil, fmt.Errorf("envelope under %q carries payload type %x, want %x: %w", key, env.PayloadType, PresenceCodec, ErrPresenceMalformed)
	}
	p := new(Presence)
	if _, err := record.ConsumeTypedEnvelope(value, p); err != nil {
		if errors.Is(err, record.ErrInvalidSignature) || !errors.Is(err, ErrPresenceMalformed) {
			return nil, fmt.Errorf("%w: envelope under %q is not signed by the key it names (forged or tampered): %w", ErrPresenceForged, key, err)
		}
		return nil, fmt.Errorf("record under %q: %w", key, err)
	}
	signer, err := ed25519Raw(env.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: record under %q: %w", ErrPresenceCertKeyMismatch, key, err)
	}
	if !bytes.Equal(p.Certificate.PeerKey, signer) {
		return nil, fmt.Errorf("%w: record under %q is signed by node key %s but carries the certificate of %q for node key %s",
			ErrPresenceCertKeyMismatch, key, crypto.EncodePublicKey(signer), p.Certificate.Username, crypto.EncodePublicKey(p.Certificate.PeerKey))
	}
	signerID, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil || signerID != p.PeerID {
		return nil, fmt.Errorf("%w: record under %q names peer %s but is signed by peer %s", ErrPresencePeerMismatch, key, p.PeerID, signerID)
	}
	if p.Certificate.Username != name {
		return nil, fmt.Errorf("%w: record stored under %q carries the certificate of %q", ErrPresenceNameMismatch, key, p.Certificate.Username)
	}
	now := v.now()
	if err := p.Certificate.Verify(v.directoryKey, now); err != nil {
		return nil, fmt.Errorf("%w: record under %q: %w", ErrPresenceCertificate, key, err)
	}
	if !now.Before(p.Expires) {
		return nil, fmt.Errorf("%w: record under %q expired at %s (now %s); the node must republish",
			ErrPresenceExpired, key, p.Expires.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if limit := now.Add(MaxPresenceTTL + crypto.ClockSkew); p.Expires.After(limit) {
		return nil, fmt.Errorf("%w: record under %q expires at %s, after the limit %s (now plus %v); check the publisher's clock",
			ErrPresenceFarFuture, key, p.Expires.Format(time.RFC3339), limit.UTC().Format(time.RFC3339), MaxPresenceTTL)
	}
	return p, nil
}

// ed25519Raw returns the raw ed25519 key of a libp2p public key.
func ed25519Raw(k ic.PubKey) (ed25519.PublicKey, error) {
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
// ErrPresenceNoneValid and the first value's rejection.
func (v *PresenceValidator) Select(key string, values [][]byte) (int, error) {
	best, bestIdx := (*Presence)(nil), -1
	var firstErr error
	for i, val := range values {
		p, err := v.Open(key, val)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if best == nil || presenceBetter(p, best) {
			best, bestIdx = p, i
		}
	}
	if best == nil {
		if firstErr == nil {
			firstErr = errors.New("no values")
		}
		return 0, fmt.Errorf("%w among %d values under %q: %w", ErrPresenceNoneValid, len(values), presenceClip(key, 80), firstErr)
	}
	return bestIdx, nil
}

// presenceBetter reports whether a should replace b.
func presenceBetter(a, b *Presence) bool {
	if a.Seq != b.Seq {
		return a.Seq > b.Seq
	}
	if a.Withdrawn != b.Withdrawn {
		return a.Withdrawn
	}
	return a.Expires.After(b.Expires)
}
