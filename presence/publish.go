package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/crypto"
)

// Record publishing defaults.
const (
	DefaultTTL       = time.Hour
	DefaultRepublish = 20 * time.Minute
	DefaultRetry     = 30 * time.Second
	DefaultShutdown  = 10 * time.Second
)

// Config configures Run. Only Certificate is required.
type Config struct {
	// Certificate returns the current directory certificate; it is called
	// before each publication, so a certificate renewed by `peercall login`
	// is picked up at the next republish (crypto.Keystore.LoadCertificate
	// fits).
	Certificate func() (*crypto.Certificate, error)
	// Addrs returns the addresses to announce, direct and relay-circuit;
	// the host's own addresses when nil.
	Addrs func() []ma.Multiaddr
	// TTL is how long each record is valid (default 1 h, at most
	// MaxTTL). Republish is how often a fresh record is published
	// (default 20 min, less than TTL); Retry how soon a failed publication
	// is retried (default 30 s, at most Republish). Shutdown bounds the
	// publication of the tombstone on exit (default 10 s).
	TTL, Republish, Retry, Shutdown time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives one line per publication; slog.Default when nil.
	Logger *slog.Logger
	// OnPublish, when set, is called after every publication attempt with
	// the record and the outcome (tests, status).
	OnPublish func(p *Record, err error)
	// Changed, when set, says the addresses may have changed (a new
	// listen or observed address, a circuit reservation made or lost): a
	// record with the new addresses is published within ChangeSettle, so
	// that callers find a NATed node through its new circuit at once.
	Changed <-chan struct{}
}

// withDefaults fills zero fields and validates the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Certificate == nil {
		return c, errors.New("presence: no certificate source configured")
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.Republish == 0 {
		c.Republish = min(DefaultRepublish, c.TTL/3)
	}
	if c.Retry == 0 {
		c.Retry = min(DefaultRetry, c.Republish)
	}
	if c.Shutdown == 0 {
		c.Shutdown = DefaultShutdown
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.TTL < 2*time.Second || c.TTL > MaxTTL:
		return c, fmt.Errorf("presence: TTL %v outside 2s..%v", c.TTL, MaxTTL)
	case c.Republish <= 0 || c.Republish >= c.TTL:
		return c, fmt.Errorf("presence: republish interval %v must be positive and shorter than the TTL %v", c.Republish, c.TTL)
	case c.Retry <= 0 || c.Retry > c.Republish:
		return c, fmt.Errorf("presence: retry interval %v must be positive and at most the republish interval %v", c.Retry, c.Republish)
	case c.Shutdown <= 0:
		return c, fmt.Errorf("presence: shutdown timeout %v must be positive", c.Shutdown)
	}
	return c, nil
}

// Run keeps the node's presence record in the DHT until ctx is
// cancelled: it publishes at once, republishes every Republish interval
// (retrying failures sooner), and on return publishes a tombstone so that
// lookups say "offline" rather than hand out stale addresses. Sequence
// numbers are Unix nanoseconds, kept strictly increasing, so they grow across
// restarts too (given a clock that does not go back). It blocks; the caller
// owns it. It returns nil after a successful tombstone, else the reason.
func Run(ctx context.Context, d *DHT, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if cfg.Addrs == nil {
		cfg.Addrs = d.host.Addrs
	}
	r := &runner{d: d, cfg: cfg}
	timer := time.NewTimer(0)
	defer timer.Stop()
	due := time.Now()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Shutdown)
			defer cancel()
			return r.publish(sctx, true)
		case <-cfg.Changed:
			// Publish the new addresses soon, once a burst of changes has
			// settled, unless the record out there already has them.
			if r.lastOK && sameAddrs(r.lastAddrs, cfg.Addrs()) {
				continue
			}
			if soon := time.Now().Add(ChangeSettle); soon.Before(due) {
				timer.Reset(ChangeSettle)
				due = soon
			}
		case <-timer.C:
			next := cfg.Republish
			if err := r.publish(ctx, false); err != nil && ctx.Err() == nil {
				next = cfg.Retry
			}
			timer.Reset(next)
			due = time.Now().Add(next)
		}
	}
}

// ChangeSettle is how long after an address change its record is
// published: changes that come in a burst (a reservation brings several
// circuit addresses) go out in one record.
const ChangeSettle = 100 * time.Millisecond

// sameAddrs reports whether a and b hold the same addresses, in any order.
func sameAddrs(a, b []ma.Multiaddr) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[string]int, len(a))
	for _, x := range a {
		seen[string(x.Bytes())]++
	}
	for _, x := range b {
		k := string(x.Bytes())
		if seen[k] == 0 {
			return false
		}
		seen[k]--
	}
	return true
}

// runner is Run's state.
type runner struct {
	d         *DHT
	cfg       Config
	lastSeq   uint64
	lastAddrs []ma.Multiaddr // of the latest live record published
	lastOK    bool           // the latest publication succeeded
	alone     bool           // the latest failure was for want of peers (logged)
}

// nextSeq returns a time-based sequence number above every earlier one.
func (r *runner) nextSeq(now time.Time) uint64 {
	s := uint64(max(now.UnixNano(), 1))
	if s <= r.lastSeq {
		s = r.lastSeq + 1
	}
	r.lastSeq = s
	return s
}

// publish builds, publishes and reports one record.
func (r *runner) publish(ctx context.Context, withdrawn bool) error {
	p, err := r.build(withdrawn)
	if err == nil {
		err = Publish(ctx, r.d, p)
	}
	kind := "presence"
	if withdrawn {
		kind = "presence tombstone"
	}
	switch {
	case err != nil && len(r.d.host.Network().Peers()) == 0:
		// A first node has nobody to store its record yet: it is
		// retried, and published once a peer arrives. Said once.
		level := slog.LevelInfo
		if r.alone {
			level = slog.LevelDebug
		}
		r.alone = true
		r.cfg.Logger.Log(context.Background(), level, kind+" not published yet: no peer to store it; retrying", "every", r.cfg.Retry)
	case err != nil:
		r.alone = false
		r.cfg.Logger.Warn("publish "+kind+" failed", "err", err)
	default:
		r.alone = false
		r.cfg.Logger.Info("published "+kind, "user", p.Certificate.Username, "seq", p.Seq,
			"addrs", len(p.Addrs), "expires", p.Expires)
	}
	if !withdrawn && p != nil {
		r.lastAddrs, r.lastOK = p.Addrs, err == nil
	}
	if r.cfg.OnPublish != nil {
		r.cfg.OnPublish(p, err)
	}
	return err
}

// build makes the next record. A tombstone lives as long as a live record
// published now would, so it outlasts and outranks every earlier record.
func (r *runner) build(withdrawn bool) (*Record, error) {
	cert, err := r.cfg.Certificate()
	if err != nil {
		return nil, fmt.Errorf("presence: load certificate: %w", err)
	}
	if cert == nil {
		return nil, errors.New("presence: no certificate; run `peercall login`")
	}
	now := r.cfg.Now()
	p := &Record{
		Certificate: cert,
		PeerID:      r.d.host.ID(),
		Seq:         r.nextSeq(now),
		Expires:     now.Add(r.cfg.TTL).Truncate(time.Second),
		Withdrawn:   withdrawn,
	}
	if !withdrawn {
		p.Addrs = r.cfg.Addrs()
		if len(p.Addrs) > MaxAddrs {
			p.Addrs = p.Addrs[:MaxAddrs]
		}
	}
	return p, nil
}
