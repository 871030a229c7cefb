package presence

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"time"

	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
)

// Lookup outcomes the CLI maps to exit code 4. ErrUserOffline is
// ErrOffline, so every "offline" error matches both.
var (
	ErrUnknownUser = errors.New("no such user")
	ErrUserOffline = ErrOffline
)

// Source says where a lookup's answer came from.
type Source string

// Sources of PeerInfo.
const (
	SourceDHT       Source = "dht"
	SourceDirectory Source = "directory"
	SourceCache     Source = "cache"
)

// PeerInfo is a user found by Resolver.Lookup: the verified certificate,
// the peer ID it certifies and the addresses to dial.
type PeerInfo struct {
	Username    string
	PeerID      peer.ID
	Addrs       []ma.Multiaddr
	Certificate *crypto.Certificate
	Source      Source
}

// UserDirectory is the directory's user lookup (directory.Client).
type UserDirectory interface {
	User(ctx context.Context, name string) (directory.UserResponse, error)
}

// Resolver finds users: their presence record in the DHT first; when the
// DHT has no answer, the directory's GET /v1/users/NAME (certificates
// verified with the pinned key); when the directory is unreachable too, the
// certificate cached from an earlier call. A withdrawn presence (the user's
// node shut down) is final.
type Resolver struct {
	DHT          *DHT
	Directory    UserDirectory // nil: no directory configured
	Cache        *HostCache
	DirectoryKey ed25519.PublicKey
	// Timeout bounds the DHT part of a lookup (default 5 s).
	Timeout time.Duration
	Logger  *slog.Logger
	Now     func() time.Time
	// Revoked, when set, reports a certificate serial on the directory's
	// revocation list: Verify refuses it, and a DHT record carrying it
	// is not an answer.
	Revoked func(serial uint64) bool
}

// cachedDirectoryTimeout bounds the directory fallback of a lookup when a
// certificate cached from an earlier call can answer instead.
const cachedDirectoryTimeout = 3 * time.Second

// Lookup finds username (see Resolver).
func (r *Resolver) Lookup(ctx context.Context, username string) (*PeerInfo, error) {
	name, err := directory.Normalize(username)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a valid username: %w", ErrUnknownUser, username, err)
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	p, derr := Lookup(dctx, r.DHT, name)
	cancel()
	if derr == nil && r.Revoked != nil && r.Revoked(p.Certificate.Serial) {
		derr = fmt.Errorf("the presence record of %s carries certificate %d, which is revoked: %w", name, p.Certificate.Serial, crypto.ErrCertificateRevoked)
	}
	if derr == nil {
		r.Cache.Remember(p.PeerID, p.Certificate, r.Now())
		return &PeerInfo{Username: name, PeerID: p.PeerID, Addrs: p.Addrs, Certificate: p.Certificate, Source: SourceDHT}, nil
	}
	if errors.Is(derr, ErrWithdrawn) {
		return nil, fmt.Errorf("%s is offline (their node signed off): %w", name, derr)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	r.Logger.Debug("DHT lookup failed; asking the directory", "user", name, "err", derr)
	rctx := ctx
	if _, _, _, cached := r.Cache.Certificate(name); cached {
		// With a certificate to fall back on, a directory that is down must
		// not hold the call up for its full timeout and retries.
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, cachedDirectoryTimeout)
		defer cancel()
	}
	info, rerr := r.lookupDirectory(rctx, name)
	if rerr == nil || errors.Is(rerr, ErrUnknownUser) || errors.Is(rerr, ErrUserOffline) {
		return info, rerr
	}
	// The directory is unreachable: try the cached certificate.
	if cert, id, addrs, ok := r.Cache.Certificate(name); ok {
		if err := r.Verify(cert, id); err == nil {
			return &PeerInfo{Username: name, PeerID: id, Addrs: addrs, Certificate: cert, Source: SourceCache}, nil
		}
	}
	if errors.Is(derr, ErrOffline) {
		return nil, fmt.Errorf("%s is offline: no presence in the DHT, and the directory could not be asked (%v): %w", name, rerr, derr)
	}
	return nil, fmt.Errorf("look up %s: DHT: %w; directory: %w", name, derr, rerr)
}

// lookupDirectory asks the directory for name's certificates and nodes.
func (r *Resolver) lookupDirectory(ctx context.Context, name string) (*PeerInfo, error) {
	if r.Directory == nil {
		return nil, errors.New("no directory configured")
	}
	resp, err := r.Directory.User(ctx, name)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s is not registered at the directory (check the spelling, or `peercall users %s`): %w", ErrUnknownUser, name, name, err)
	}
	if err != nil {
		return nil, err
	}
	for _, raw := range resp.Certificates {
		cert, err := crypto.ParseCertificate(raw)
		if err != nil || cert.Username != name {
			continue
		}
		id, err := PeerIDOf(cert.PeerKey)
		if err != nil || r.Verify(cert, id) != nil {
			continue
		}
		info := &PeerInfo{Username: name, PeerID: id, Certificate: cert, Source: SourceDirectory}
		for _, ni := range resp.Nodes {
			if ni.PeerID != id.String() {
				continue
			}
			for _, a := range ni.Addrs {
				if m, err := ma.NewMultiaddr(a); err == nil {
					info.Addrs = append(info.Addrs, m)
				}
			}
		}
		return info, nil
	}
	return nil, fmt.Errorf("%w: %s has no valid certificate at the directory (not logged in recently)", ErrUserOffline, name)
}

// Verify checks cert with the pinned key and that it certifies id.
func (r *Resolver) Verify(cert *crypto.Certificate, id peer.ID) error {
	raw, err := KeyOf(id)
	if err != nil {
		return err
	}
	if err := cert.VerifyPeer(r.DirectoryKey, raw, r.Now()); err != nil {
		return err
	}
	if r.Revoked != nil && r.Revoked(cert.Serial) {
		return fmt.Errorf("certificate %d of %q: %w", cert.Serial, cert.Username, crypto.ErrCertificateRevoked)
	}
	return nil
}

// KeyOf returns the raw ed25519 identity key a peer ID embeds.
func KeyOf(id peer.ID) (ed25519.PublicKey, error) {
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", id, err)
	}
	return Ed25519Key(pub)
}

// PeerIDOf returns the libp2p peer ID of an ed25519 identity key.
func PeerIDOf(key ed25519.PublicKey) (peer.ID, error) {
	pub, err := ic.UnmarshalEd25519PublicKey(key)
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pub)
}
