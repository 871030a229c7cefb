package presence

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	dhtrecord "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"

	"github.com/peercall/peercall/directory"
)

// DHTProtocolPrefix keeps peercall's DHT apart from the public IPFS DHT: its
// protocol is /peercall/kad/1.0.0.
const DHTProtocolPrefix = "/peercall"

// DHTMode says whether the node serves the DHT to others.
type DHTMode string

// DHT modes: a client only queries; a server also stores records and answers
// queries (super-nodes, well-connected nodes); auto lets libp2p switch to
// server when AutoNAT finds the node publicly reachable.
const (
	DHTModeAuto   DHTMode = "auto"
	DHTModeClient DHTMode = "client"
	DHTModeServer DHTMode = "server"
)

// Lookup results that mean "the user cannot be called now"; the CLI maps
// ErrOffline to exit code 4. Not-found and withdrawn errors wrap it.
var (
	ErrOffline   = errors.New("user is offline")
	ErrNotFound  = errors.New("no presence record in the DHT")
	ErrWithdrawn = errors.New("user signed off")
)

func (m DHTMode) option() (dht.ModeOpt, error) {
	switch m {
	case DHTModeAuto, "":
		return dht.ModeAuto, nil
	case DHTModeClient:
		return dht.ModeClient, nil
	case DHTModeServer:
		return dht.ModeServer, nil
	}
	return 0, fmt.Errorf("DHT mode %q is not one of auto, client, server", string(m))
}

// DHTConfig configures NewDHT.
type DHTConfig struct {
	// DirectoryKey is the pinned directory public key; presence records
	// must carry a certificate it signed.
	DirectoryKey ed25519.PublicKey
	// Mode is auto (the default when empty), client or server.
	Mode DHTMode
	// BootstrapPeers are dialled when the routing table is empty.
	BootstrapPeers []peer.AddrInfo
	// Now is the validator's clock; time.Now when nil.
	Now func() time.Time
	// Options are extra kad-dht options applied last (a persistent
	// datastore, timeouts). They must not replace the validator.
	Options []dht.Option
}

// DHT is a running peercall Kademlia DHT with the presence validator
// installed. Close it before closing its host.
type DHT struct {
	*dht.IpfsDHT
	host      host.Host
	validator *Validator
}

// NewDHT starts a DHT on h under protocol prefix /peercall, with the presence
// validator for namespace "peercall" and no other value namespaces (provider
// records stay enabled: super-nodes advertise themselves with them), and
// starts bootstrapping in the background (ctx bounds that first round).
func NewDHT(ctx context.Context, h host.Host, cfg DHTConfig) (*DHT, error) {
	v, err := NewValidator(cfg.DirectoryKey, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("start DHT: %w", err)
	}
	mode, err := cfg.Mode.option()
	if err != nil {
		return nil, fmt.Errorf("start DHT: %w; set network.dht_mode accordingly", err)
	}
	opts := []dht.Option{
		dht.ProtocolPrefix(DHTProtocolPrefix),
		dht.Mode(mode),
		// A fresh namespaced validator drops libp2p's default /pk and /ipns
		// namespaces: this DHT stores presence records only.
		dht.Validator(dhtrecord.NamespacedValidator{}),
		dht.NamespacedValidator(Namespace, v),
	}
	if len(cfg.BootstrapPeers) > 0 {
		opts = append(opts, dht.BootstrapPeers(cfg.BootstrapPeers...))
	}
	opts = append(opts, cfg.Options...)
	d, err := dht.New(h, opts...)
	if err != nil {
		return nil, fmt.Errorf("start DHT: %w", err)
	}
	if err := d.Bootstrap(ctx); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("bootstrap DHT: %w", err)
	}
	return &DHT{IpfsDHT: d, host: h, validator: v}, nil
}

// Validator returns the presence validator the DHT runs.
func (d *DHT) Validator() *Validator { return d.validator }

// Publish seals p with the host's identity key and stores it in the
// DHT under the key of the certificate's username. It checks the record with
// the validator first, so a record the network would refuse is refused here
// with the reason.
func Publish(ctx context.Context, d *DHT, p *Record) error {
	if p.Certificate == nil {
		return fmt.Errorf("publish presence: no certificate; run `peercall login` first: %w", ErrMalformed)
	}
	name := p.Certificate.Username
	priv := d.host.Peerstore().PrivKey(d.host.ID())
	if priv == nil {
		return fmt.Errorf("publish presence of %q: the host's private key is not in its peerstore", name)
	}
	env, err := record.Seal(p, priv)
	if err != nil {
		return fmt.Errorf("publish presence of %q: seal: %w", name, err)
	}
	val, err := env.Marshal()
	if err != nil {
		return fmt.Errorf("publish presence of %q: encode envelope: %w", name, err)
	}
	key := Key(name)
	if _, err := d.validator.Open(key, val); err != nil {
		return fmt.Errorf("publish presence of %q: the record would be refused: %w", name, err)
	}
	if err := d.PutValue(ctx, key, val); err != nil {
		return fmt.Errorf("publish presence of %q to the DHT (are bootstrap peers reachable?): %w", name, err)
	}
	return nil
}

// LookupGrace is how long a lookup that holds a valid record goes on
// searching for a newer one before it answers. kad-dht's search ends only
// when its whole query has (every closer peer asked, dials to unreachable
// ones timed out), seconds on a network with NATed peers in the routing
// tables; a call must not wait for that. A stale record found first costs
// little: the caller dials the peerstore's addresses too, and the
// callee's circuits.
const LookupGrace = 150 * time.Millisecond

// bestValue reads a SearchValue channel (each value better than the last)
// and returns the last value received before the channel closed or grace
// passed since the first; then it stops the search and waits for the
// channel to close.
func bestValue(ch <-chan []byte, stop context.CancelFunc, grace time.Duration) []byte {
	var best []byte
	var timeout <-chan time.Time
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				return best
			}
			best = v
			if timeout == nil {
				t := time.NewTimer(grace)
				defer t.Stop()
				timeout = t.C
			}
		case <-timeout:
			stop()
			for v := range ch { // the search ends on stop; what it still sends is better
				best = v
			}
			return best
		}
	}
}

// dhtQuorum is how many DHT peers must agree on the best record before a
// lookup stops searching.
const dhtQuorum = 2

// Lookup finds the presence record of the user called name (normalised
// first, so "Bob" finds "bob") and verifies it again. Unlike kad-dht's
// GetValue it keeps the best record found when the search runs out of
// time, so that a network with dead peers in its routing tables still
// answers, tombstones included. A user with no record, or whose best record
// is a tombstone, is reported with an error wrapping ErrOffline (and
// ErrNotFound or ErrWithdrawn); a name no one can hold with one wrapping
// ErrBadKey and the directory's reason.
func Lookup(ctx context.Context, d *DHT, name string) (*Record, error) {
	norm, err := directory.Normalize(name)
	if err != nil {
		return nil, fmt.Errorf("look up %q: %w: %w", name, ErrBadKey, err)
	}
	name = norm
	key := Key(name)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	ch, err := d.SearchValue(sctx, key, dht.Quorum(dhtQuorum))
	if err != nil {
		return nil, fmt.Errorf("look up %q in the DHT: %w", name, err)
	}
	best := bestValue(ch, stop, LookupGrace)
	if best == nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("look up %q in the DHT: %w", name, ctx.Err())
		}
		return nil, fmt.Errorf("look up %q: %w: %w (never online, or its record expired)", name, ErrOffline, ErrNotFound)
	}
	p, err := d.validator.Open(key, best)
	if err != nil {
		return nil, fmt.Errorf("look up %q: %w", name, err)
	}
	if p.Withdrawn {
		return nil, fmt.Errorf("look up %q: %w: %w (its node shut down)", name, ErrOffline, ErrWithdrawn)
	}
	return p, nil
}
