package admission

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peercall/peercall/crypto"
)

// ErrUncertified is returned by WaitCertified when the peer has not proven
// a certificate in time.
var ErrUncertified = errors.New("peer has not presented a valid directory certificate")

// ErrRevoked is wrapped when a hello's certificate is revoked.
var ErrRevoked = errors.New("certificate revoked")

// Config configures an Admission.
type Config struct {
	// DirectoryKey is the pinned directory key that signs certificates.
	DirectoryKey ed25519.PublicKey
	// Certificate returns this node's certificate (sent in hellos).
	Certificate func() (*crypto.Certificate, error)
	// Revoked, when set, reports whether a certificate serial is on the
	// directory's revocation list: a hello with it certifies nobody.
	Revoked func(serial uint64) bool
	// Known, when set, reports whether this node holds a verified
	// directory certificate for a peer (its host cache): such a peer gets
	// a certified peer's budget, as an Expected one does (expect.go).
	Known func(peer.ID) bool
	// Limits are the budgets (zero fields: DefaultLimits).
	Limits Limits
	// Registry, when set, receives peercall_admission_* metrics.
	Registry prometheus.Registerer
	// Logger receives admission's logs (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock of certificate checks (default time.Now).
	Now func() time.Time
}

// Admission is a node's admission control. Make it with New, give
// HostOptions to libp2p.New, then Start it on the host; Close it before
// the host.
type Admission struct {
	cfg       Config
	lim       Limits
	log       *slog.Logger
	now       func() time.Time
	rcfg      rcmgr.ConcreteLimitConfig
	certLimit rcmgr.BaseLimit
	m         *metrics
	notifiee  *network.NotifyBundle

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	host   host.Host
	kick   chan struct{}

	expect expected // dials to peers verified out of band (Expect)

	certMu sync.RWMutex
	certs  map[peer.ID]string // certified peers connected now: username

	mu       sync.Mutex
	closed   bool
	peers    map[peer.ID]*entry // every connected peer
	tracked  map[peer.ID]*entry // uncertified peers that only dialled us
	subnets  map[string]int     // tracked peers per subnet
	cooldown map[peer.ID]time.Time
	closeq   []peer.ID
}

// entry is one connected peer.
type entry struct {
	in, out   int       // open connections by direction
	subnet    string    // tracked: subnet of its first connection
	since     time.Time // tracked: when it connected
	evicting  bool
	signal    int // uncertified signalling streams being answered
	holds     int // Protect'ed streams open
	helloOnce sync.Once
	helloDone chan struct{} // closed when certified, or our hello ended
	helloRan  bool
}

func (e *entry) endHello() { e.helloOnce.Do(func() { close(e.helloDone) }) }

// New returns an Admission; it does nothing until Start.
func New(cfg Config) (*Admission, error) {
	if len(cfg.DirectoryKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("admission: directory key is %d bytes, want %d; check directory.key", len(cfg.DirectoryKey), ed25519.PublicKeySize)
	}
	if cfg.Certificate == nil {
		return nil, errors.New("admission: Config.Certificate is nil: the node must present its certificate")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	lim := cfg.Limits.withDefaults()
	if err := lim.validate(); err != nil {
		return nil, err
	}
	a := &Admission{cfg: cfg, lim: lim, log: cfg.Logger, now: cfg.Now, kick: make(chan struct{}, 1),
		certs: map[peer.ID]string{}, peers: map[peer.ID]*entry{}, tracked: map[peer.ID]*entry{},
		subnets: map[string]int{}, cooldown: map[peer.ID]time.Time{}}
	a.rcfg, a.certLimit = lim.limitConfig()
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.m = newMetrics(a)
	if cfg.Registry != nil {
		if err := a.m.register(cfg.Registry); err != nil {
			return nil, fmt.Errorf("admission metrics: %w", err)
		}
	}
	a.notifiee = &network.NotifyBundle{ConnectedF: a.connected, DisconnectedF: a.disconnected}
	return a, nil
}

// Limits returns the budgets in force.
func (a *Admission) Limits() Limits { return a.lim }

// HostOptions are the libp2p options of a host under admission: a
// resource manager with admission's limits, admission as the connection
// gater, and a connection manager whose watermarks leave room for the
// uncertified peers (so they never push certified ones out). Each call
// makes new ones (for each libp2p.New).
func (a *Admission) HostOptions() ([]libp2p.Option, error) {
	lim := &limiter{Limiter: rcmgr.NewFixedLimiter(a.rcfg), certified: a.certLimit,
		uncertified: a.lim.Uncertified, isCertified: a.budgetCertified}
	rm, err := rcmgr.NewResourceManager(lim, rcmgr.WithMetricsDisabled(), rcmgr.WithMetrics(reporter{a}))
	if err != nil {
		return nil, fmt.Errorf("admission: resource manager: %w", err)
	}
	room := a.lim.MaxUncertified * a.lim.Uncertified.ConnsInbound
	cm, err := connmgr.NewConnManager(160+room, 192+room)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("admission: connection manager: %w", err)
	}
	return []libp2p.Option{libp2p.ResourceManager(rm), libp2p.ConnectionGater(gater{a}), libp2p.ConnectionManager(cm)}, nil
}

// Start watches h's connections and serves the hello protocol on it.
// Start it before h connects to anyone (connections made before are not
// counted).
func (a *Admission) Start(h host.Host) {
	a.host = h
	h.SetStreamHandler(HelloProtocol, a.handleHello)
	h.Network().Notify(a.notifiee)
	a.wg.Add(2)
	go a.janitor()
	go a.closer()
}

// Close stops admission and waits for its goroutines.
func (a *Admission) Close() error {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	if a.host != nil {
		a.host.RemoveStreamHandler(HelloProtocol)
		a.host.Network().StopNotify(a.notifiee)
	}
	a.cancel()
	a.wg.Wait()
	return nil
}

// Certified reports whether p has proven a certificate on its current
// connections.
func (a *Admission) Certified(p peer.ID) bool {
	a.certMu.RLock()
	defer a.certMu.RUnlock()
	_, ok := a.certs[p]
	return ok
}

// Certify records that p presented cert, already verified to be the
// directory's and to name p (an INVITE's, or a hello's). It lasts while p
// stays connected.
func (a *Admission) Certify(p peer.ID, cert *crypto.Certificate) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.peers[p]
	if e == nil || e.evicting {
		return
	}
	a.certMu.Lock()
	a.certs[p] = cert.Username
	a.certMu.Unlock()
	a.untrackLocked(p, e)
	e.endHello()
}

// WaitCertified waits until p is certified (at most HelloTimeout): the
// caller's side uses it so that an INVITE goes out after the callee has
// our certificate. When p dialled us and sent no hello, we send one.
// ErrUncertified when the hello did not succeed.
func (a *Admission) WaitCertified(ctx context.Context, p peer.ID) error {
	if a.Certified(p) {
		return nil
	}
	a.mu.Lock()
	e := a.peers[p]
	if e != nil {
		a.startHelloLocked(p, e)
	}
	a.mu.Unlock()
	if e == nil {
		return fmt.Errorf("%w: %s is not connected", ErrUncertified, p)
	}
	t := time.NewTimer(a.lim.HelloTimeout)
	defer t.Stop()
	select {
	case <-e.helloDone:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	if !a.Certified(p) {
		return fmt.Errorf("%w: no valid hello from %s", ErrUncertified, p)
	}
	return nil
}

// subnetOf is the /24 (IPv4) or /56 (IPv6) of a connection's remote
// address; for a relayed connection, the relay's.
func subnetOf(addr ma.Multiaddr) string {
	for _, c := range addr {
		if c.Code() != ma.P_IP4 && c.Code() != ma.P_IP6 {
			continue
		}
		ip, ok := netip.AddrFromSlice(c.RawValue())
		if !ok {
			break
		}
		ip = ip.Unmap()
		bits := 56
		if ip.Is4() {
			bits = 24
		}
		pfx, err := ip.Prefix(bits)
		if err != nil {
			break
		}
		return pfx.String()
	}
	return "unknown"
}

func (a *Admission) connected(_ network.Network, c network.Conn) {
	p := c.RemotePeer()
	dir := c.Stat().Direction
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.peers[p]
	if e == nil {
		e = &entry{helloDone: make(chan struct{})}
		a.peers[p] = e
	}
	if dir == network.DirOutbound {
		e.out++
	} else {
		e.in++
	}
	if e.evicting || a.Certified(p) {
		return
	}
	if dir == network.DirOutbound {
		// We dialled it: our choice, not admission's to cap. We present
		// our certificate and learn its.
		a.untrackLocked(p, e)
		a.startHelloLocked(p, e)
		return
	}
	if e.out > 0 {
		return
	}
	if _, ok := a.tracked[p]; !ok {
		e.subnet, e.since = subnetOf(c.RemoteMultiaddr()), time.Now()
		a.tracked[p] = e
		a.subnets[e.subnet]++
		a.enforceLocked(e.subnet)
	}
}

// startHelloLocked sends p our hello, unless one was sent already.
func (a *Admission) startHelloLocked(p peer.ID, e *entry) {
	if e.helloRan || e.evicting || a.closed || a.host == nil {
		return
	}
	e.helloRan = true
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.hello(p); err != nil {
			a.log.Debug("hello failed", "peer", p, "err", err)
		}
		e.endHello()
	}()
}

// enforceLocked evicts the oldest uncertified peers while a cap is
// exceeded: first in subnet (the newcomer's), then in the subnet that
// has the most, so a newcomer from a quiet subnet is never the one
// evicted by a flood from others.
func (a *Admission) enforceLocked(subnet string) {
	for a.subnets[subnet] > a.lim.MaxUncertifiedPerSubnet {
		old := a.oldestLocked(subnet)
		if old == "" {
			break // cannot happen: the count says it has peers
		}
		a.evictLocked(old, ReasonSubnetFull)
	}
	for len(a.tracked) > a.lim.MaxUncertified {
		busiest, most := "", 0
		for s, n := range a.subnets {
			if n > most || (n == most && s < busiest) {
				busiest, most = s, n
			}
		}
		old := a.oldestLocked(busiest)
		if old == "" {
			break
		}
		a.evictLocked(old, ReasonUncertifiedFull)
	}
}

func (a *Admission) oldestLocked(subnet string) peer.ID {
	var old peer.ID
	var since time.Time
	for p, e := range a.tracked {
		if e.subnet == subnet && (old == "" || e.since.Before(since)) {
			old, since = p, e.since
		}
	}
	return old
}

func (a *Admission) untrackLocked(p peer.ID, e *entry) {
	if _, ok := a.tracked[p]; !ok {
		return
	}
	delete(a.tracked, p)
	if a.subnets[e.subnet]--; a.subnets[e.subnet] <= 0 {
		delete(a.subnets, e.subnet)
	}
}

// evictLocked disconnects p and refuses it for Cooldown.
func (a *Admission) evictLocked(p peer.ID, reason string) {
	e := a.peers[p]
	if e == nil {
		if t, ok := a.tracked[p]; ok { // cannot happen: tracked peers are connected
			a.untrackLocked(p, t)
		}
		return
	}
	a.untrackLocked(p, e)
	e.evicting = true
	e.endHello()
	if len(a.cooldown) >= maxCooldown {
		a.pruneCooldownLocked(time.Now())
	}
	a.cooldown[p] = time.Now().Add(a.lim.Cooldown)
	a.closeq = append(a.closeq, p)
	select {
	case a.kick <- struct{}{}:
	default:
	}
	a.refused(reason, p)
}

// maxCooldown bounds the cooldown list (fresh identities cost an attacker
// nothing, so it only spares the work of re-admitting the same ones).
const maxCooldown = 4096

func (a *Admission) pruneCooldownLocked(now time.Time) {
	for p, until := range a.cooldown {
		if !now.Before(until) || len(a.cooldown) >= maxCooldown {
			delete(a.cooldown, p)
		}
	}
}

func (a *Admission) disconnected(n network.Network, c network.Conn) {
	p := c.RemotePeer()
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.peers[p]
	if e == nil {
		return
	}
	if c.Stat().Direction == network.DirOutbound {
		e.out--
	} else {
		e.in--
	}
	if e.in+e.out > 0 {
		return
	}
	a.untrackLocked(p, e)
	delete(a.peers, p)
	a.certMu.Lock()
	delete(a.certs, p)
	a.certMu.Unlock()
	if e.holds > 0 && a.host != nil {
		a.host.ConnManager().Unprotect(p, protectTag)
	}
	e.endHello()
}

// janitor evicts the uncertified peers whose HelloTimeout passed.
func (a *Admission) janitor() {
	defer a.wg.Done()
	t := time.NewTicker(max(a.lim.HelloTimeout/5, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case now := <-t.C:
			a.mu.Lock()
			for p, e := range a.tracked {
				if now.Sub(e.since) >= a.lim.HelloTimeout {
					a.evictLocked(p, ReasonHelloTimeout)
				}
			}
			a.pruneCooldownLocked(time.Now())
			a.mu.Unlock()
		}
	}
}

// closer disconnects the evicted peers (never from a libp2p callback).
func (a *Admission) closer() {
	defer a.wg.Done()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-a.kick:
		}
		a.mu.Lock()
		q := a.closeq
		a.closeq = nil
		a.mu.Unlock()
		for _, p := range q {
			_ = a.host.Network().ClosePeer(p)
		}
	}
}

// refuseBadCertificate: a hello that does not verify. A peer that only
// dialled us is disconnected.
func (a *Admission) refuseBadCertificate(p peer.ID, err error) {
	a.log.Debug("hello refused", "peer", p, "err", err)
	reason := ReasonBadCertificate
	if errors.Is(err, ErrRevoked) {
		reason = ReasonRevoked
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.tracked[p]; ok {
		a.evictLocked(p, reason)
		return
	}
	a.refused(reason, p)
}
