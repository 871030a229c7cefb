package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
)

// Lookup outcomes the CLI maps to exit code 4. ErrUserOffline is the DHT's
// ErrPresenceOffline, so every "offline" error matches both.
var (
	ErrUnknownUser = errors.New("no such user")
	ErrUserOffline = ErrPresenceOffline
)

// dialTimeout bounds the libp2p dial of a looked-up peer.
const dialTimeout = 10 * time.Second

// PeerInfo is a user found by Lookup: the verified certificate, the peer ID
// it certifies and the addresses to dial.
type PeerInfo struct {
	Username    string
	PeerID      peer.ID
	Addrs       []ma.Multiaddr
	Certificate *crypto.Certificate
	// Source says where the answer came from: "dht", "directory" or
	// "cache".
	Source string
}

// Lookup finds username: its presence record in the DHT first; when the DHT
// has no answer, the directory's GET /v1/users/NAME (certificates verified
// with the pinned key); when the directory is unreachable too, the
// certificate cached from an earlier call. A withdrawn presence (the user's
// node shut down) is final: the user is offline.
func (n *Node) Lookup(ctx context.Context, username string) (*PeerInfo, error) {
	name, err := directory.Normalize(username)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a valid username: %w", ErrUnknownUser, username, err)
	}
	dctx, cancel := context.WithTimeout(ctx, n.opts.LookupTimeout)
	p, derr := n.lookupDHT(dctx, name)
	cancel()
	if derr == nil {
		n.cache.Remember(p.PeerID, p.Certificate, n.now())
		return &PeerInfo{Username: name, PeerID: p.PeerID, Addrs: p.Addrs, Certificate: p.Certificate, Source: "dht"}, nil
	}
	if errors.Is(derr, ErrPresenceWithdrawn) {
		return nil, fmt.Errorf("%s is offline (their node signed off): %w", name, derr)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	n.log.Debug("DHT lookup failed; asking the directory", "user", name, "err", derr)
	rctx := ctx
	if _, _, _, cached := n.cache.Certificate(name); cached {
		// With a certificate to fall back on, a directory that is down must
		// not hold the call up for its full timeout and retries.
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, cachedDirectoryTimeout)
		defer cancel()
	}
	info, rerr := n.lookupDirectory(rctx, name)
	if rerr == nil || errors.Is(rerr, ErrUnknownUser) || errors.Is(rerr, ErrUserOffline) {
		return info, rerr
	}
	// The directory is unreachable: try the cached certificate.
	if cert, id, addrs, ok := n.cache.Certificate(name); ok {
		if err := n.verifyFor(cert, id); err == nil {
			return &PeerInfo{Username: name, PeerID: id, Addrs: addrs, Certificate: cert, Source: "cache"}, nil
		}
	}
	if errors.Is(derr, ErrPresenceOffline) {
		return nil, fmt.Errorf("%s is offline: no presence in the DHT, and the directory could not be asked (%v): %w", name, rerr, derr)
	}
	return nil, fmt.Errorf("look up %s: DHT: %w; directory: %w", name, derr, rerr)
}

// dhtQuorum is how many DHT peers must agree on the best presence record
// before a lookup stops searching.
const dhtQuorum = 2

// lookupDHT is LookupPresence that keeps the best record found so far when
// the search runs out of time (kad-dht's GetValue drops it), so that a
// network with dead peers in its routing tables still answers, tombstones
// included.
func (n *Node) lookupDHT(ctx context.Context, name string) (*Presence, error) {
	key := PresenceKey(name)
	ch, err := n.dht.SearchValue(ctx, key, dht.Quorum(dhtQuorum))
	if err != nil {
		return nil, fmt.Errorf("look up %q in the DHT: %w", name, err)
	}
	var best []byte
	for v := range ch {
		best = v
	}
	if best == nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("look up %q in the DHT: %w", name, ctx.Err())
		}
		return nil, fmt.Errorf("look up %q: %w: %w (never online, or its record expired)", name, ErrPresenceOffline, ErrPresenceNotFound)
	}
	p, err := n.dht.Validator().Open(key, best)
	if err != nil {
		return nil, fmt.Errorf("look up %q: %w", name, err)
	}
	if p.Withdrawn {
		return nil, fmt.Errorf("look up %q: %w: %w (its node shut down)", name, ErrPresenceOffline, ErrPresenceWithdrawn)
	}
	return p, nil
}

// cachedDirectoryTimeout bounds the directory fallback of a lookup when a
// certificate cached from an earlier call can answer instead.
const cachedDirectoryTimeout = 3 * time.Second

// lookupDirectory asks the directory for name's certificates and nodes.
func (n *Node) lookupDirectory(ctx context.Context, name string) (*PeerInfo, error) {
	if n.dir == nil {
		return nil, errors.New("no directory configured")
	}
	resp, err := n.dir.User(ctx, name)
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
		id, err := peerIDOf(cert.PeerKey)
		if err != nil || n.verifyFor(cert, id) != nil {
			continue
		}
		info := &PeerInfo{Username: name, PeerID: id, Certificate: cert, Source: "directory"}
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

// verifyFor checks cert with the pinned key and that it certifies id.
func (n *Node) verifyFor(cert *crypto.Certificate, id peer.ID) error {
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return err
	}
	raw, err := ed25519Raw(pub)
	if err != nil {
		return err
	}
	return cert.VerifyPeer(n.dirKey, raw, n.now())
}

// peerIDOf returns the libp2p peer ID of an ed25519 identity key.
func peerIDOf(key ed25519.PublicKey) (peer.ID, error) {
	pub, err := ic.UnmarshalEd25519PublicKey(key)
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pub)
}

// connect dials info's peer (the addresses found, plus any the peerstore
// already has). A peer that cannot be reached is reported offline.
func (n *Node) connect(ctx context.Context, info *PeerInfo) error {
	if len(info.Addrs) > 0 {
		n.host.Peerstore().AddAddrs(info.PeerID, info.Addrs, peerstore.TempAddrTTL)
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if err := n.host.Connect(dctx, peer.AddrInfo{ID: info.PeerID}); err != nil {
		// Behind a NAT, the peer is reached through a super-node.
		rctx, rcancel := context.WithTimeout(ctx, dialTimeout)
		defer rcancel()
		if rerr := n.connectViaRelays(rctx, info.PeerID); rerr != nil {
			return fmt.Errorf("%w: %s (peer %s, found in the %s) does not answer: %w (nor through a super-node: %v)", ErrUserOffline, info.Username, info.PeerID, info.Source, err, rerr)
		}
	}
	n.cache.Remember(info.PeerID, info.Certificate, n.now())
	return nil
}
