package supernode

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/peercall/peercall/relay/peerfilter"
	"github.com/peercall/peercall/relay/sharedport"
	"github.com/peercall/peercall/relay/turncreds"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/routing"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/presence"
	"github.com/peercall/peercall/reach"
	"github.com/peercall/peercall/relay"
)

// Manager is the node's super-node side and its relay client. It loads
// the administrator's policy, computes the effective relay config (logging
// each policy override), proves reachability by dial-back, and every
// Options.Interval feeds relay.Promoter with mode, policy, restricted
// mode, reachability, uptime, declared upstream and CPU load.
//
// On promotion it starts the TURN server (relay.Relay), the libp2p circuit
// relay v2 service with relay.CircuitResources limits, the
// /peercall/relay/1 credential handler, and provides relay.ProviderKey in
// the DHT (again every ProvideInterval). On demotion it removes the handler,
// stops providing, closes the circuit relay service (no new reservations)
// and drains TURN. With relay mode off (flag, config or policy) or
// network.restricted none of these ever starts.
//
// DHT mode: kad-dht cannot be switched by a call at run time. A node whose
// network.dht_mode is "auto" runs kad-dht's ModeAuto, and the manager emits
// event.EvtLocalReachabilityChanged from its dial-back verdict (public
// while reachable, private otherwise), which kad-dht follows; the default
// dht_mode "server" serves the DHT whatever the role (see DefaultDHTMode).
//
// Close stops everything it started and waits for its goroutines.
type Manager struct {
	h          host.Host
	routing    routing.ContentRouting
	onCircuit  func()
	key        ed25519.PrivateKey
	sharedTURN net.Listener // the shared port's TURN-over-TCP route (nil: none)
	sharedTLS  net.Listener // and its TURN-over-TLS route
	dialer     *turnDialer
	dirKey     ed25519.PublicKey
	revoked    func(serial uint64) bool
	cert       func() (*crypto.Certificate, error)
	log        *slog.Logger
	opts       Options
	user       home.RelayConfig
	cfg        relay.Config // effective
	reasons    []string
	policy     relay.AdminPolicy
	restricted bool            // network.restricted (config or policy)
	detect     *reach.Detector // nil when configured restricted
	ranges     reach.Ranges
	listenIP   net.IP // nil: all interfaces
	dhtAuto    bool
	started    time.Time

	promoter *relay.Promoter
	dialback *reach.Service
	reg      *prometheus.Registry
	tracer   *relay.PrometheusTracer
	reachEm  event.Emitter
	finder   *finder
	rsv      circuitState // this node's reservation while unreachable

	ctx    context.Context
	wake   chan struct{} // NetworkChanged: step now (supernode/netchange.go)
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	relay       *relay.Relay // made at the first promotion
	circuit     *circuit.Relay
	promoted    bool
	startErr    error
	reach       reach.Result
	reachState  reach.State
	reachAt     time.Time
	lastProvide time.Time
	decision    relay.Decision // the latest Update's answer
	pending     bool           // the inputs ask for the other role, held back by hysteresis
	closed      bool
}

// Deps are what a Manager needs from its node.
type Deps struct {
	Host host.Host
	// Routing is the DHT: super-nodes provide relay.ProviderKey in it and
	// clients find them there.
	Routing      routing.ContentRouting
	DirectoryKey ed25519.PublicKey
	// Certificate is the node's current directory certificate.
	Certificate func() (*crypto.Certificate, error)
	// Revoked, when set, reports whether a certificate serial is on the
	// directory's revocation list (relay credentials are refused to it).
	Revoked func(serial uint64) bool
	Network home.NetworkConfig
	Logger  *slog.Logger
	// DirectoryURL is directory.url, an address restricted-network
	// detection probes.
	DirectoryURL string
	// OnCircuitChange, when set, is called when the node's circuit
	// addresses (CircuitAddrs) change.
	OnCircuitChange func()
	// Key is the node's identity key: TURN over TLS presents a
	// certificate made from it, which clients pin by the peer ID.
	Key ed25519.PrivateKey
	// SharedTURN and SharedTURNTLS are the TURN routes of the shared port
	// (relay.shared_port, SharedPortFor): the relay serves them once
	// promoted. Nil without a shared port.
	SharedTURN, SharedTURNTLS net.Listener
}

// New starts the manager: the promotion loop, the relay client's search
// for super-nodes, the dial-back service and restricted-network detection.
// cfg is config.toml's [relay]; opts are the flags and test hooks.
func New(d Deps, cfg home.RelayConfig, opts Options) (*Manager, error) {
	opts = opts.withDefaults()
	if opts.Config != nil {
		cfg = *opts.Config
	}
	if opts.Mode != "" {
		if _, err := relay.ParseMode(string(opts.Mode)); err != nil {
			return nil, fmt.Errorf("--relay: %w", err)
		}
		cfg.Mode = opts.Mode
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config [relay]: %w", err)
	}
	pol, err := opts.policy()
	if err != nil {
		return nil, err
	}
	// The ranges a campus (or the lab) counts as reachable are peers a
	// relay may send to, besides relay.allowed_peer_ranges; the policy's
	// list, when it has one, replaces both.
	cfg.AllowedPeerRanges = peerfilter.NewRanges(append(cfg.AllowedPeerRanges.Strings(), d.Network.ReachableRanges...)...)
	eff, reasons := relay.Effective(cfg.Config, pol)
	ranges, err := reach.ParseRanges(d.Network.ReachableRanges)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		h: d.Host, routing: d.Routing, onCircuit: d.OnCircuitChange, key: d.Key,
		sharedTURN: d.SharedTURN, sharedTLS: d.SharedTURNTLS, dialer: newTURNDialer(), dirKey: d.DirectoryKey, revoked: d.Revoked, cert: d.Certificate, log: d.Logger, opts: opts,
		user: cfg, cfg: eff, reasons: reasons, policy: pol,
		restricted: d.Network.Restricted || pol.Network.Restricted,
		ranges:     ranges, listenIP: listenIP(d.Network.Listen),
		dhtAuto: d.Network.DHTMode == home.DHTModeAuto,
		started: time.Now(), reachState: reach.StateUnknown,
	}
	if d.Network.Restricted && eff.Mode != relay.ModeOff {
		m.reasons = append(m.reasons, "network.restricted = true in config.toml: relay.mode "+string(eff.Mode)+" -> off")
		m.cfg.Mode = relay.ModeOff
	}
	for _, r := range m.reasons {
		m.log.Info("relay setting changed by policy", "reason", r)
	}
	m.log.Info("relay config", "mode", m.cfg.Mode, "policy", pol.Path, "restricted", m.restricted,
		"reachable_ranges", d.Network.ReachableRanges, "upstream_kbps", cfg.UpstreamKbps,
		"min_uptime", m.cfg.MinUptime, "min_upstream_kbps", m.cfg.MinUpstreamKbps, "max_cpu_load", m.cfg.MaxCPULoad,
		"max_kbps", m.cfg.MaxKbps, "max_sessions", m.cfg.MaxSessions, "turn_port", m.cfg.TURNPort)
	if m.opts.PromoteHold <= 0 {
		m.opts.PromoteHold = relay.DefaultPromoteHold
		if m.cfg.Mode == relay.ModeOn {
			// "on" asks for no observation period: the dial-back is the proof.
			m.opts.PromoteHold = time.Nanosecond
		}
	}
	m.promoter = relay.NewPromoter(m.cfg, relay.PromoterOptions{PromoteHold: m.opts.PromoteHold, DemoteHold: m.opts.DemoteHold, Logger: m.log})
	m.reg = opts.Registry
	if m.reg == nil {
		m.reg = prometheus.NewRegistry()
	}
	if m.tracer, err = relay.NewPrometheusTracer(m.reg); err != nil {
		return nil, fmt.Errorf("relay metrics: %w", err)
	}
	m.registerMetrics()
	if m.dhtAuto {
		if m.reachEm, err = m.h.EventBus().Emitter(new(event.EvtLocalReachabilityChanged)); err != nil {
			return nil, fmt.Errorf("relay manager: reachability emitter: %w", err)
		}
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.wake = make(chan struct{}, 1)
	m.dialback = reach.NewService(m.h, m.log)
	m.finder = newFinder(m)
	if !m.restricted {
		m.detect = opts.Detector
		if m.detect == nil {
			m.detect = reach.NewHostDetector(m.h, d.DirectoryURL, m.ranges, m.log)
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.detect.Run(m.ctx)
		}()
	}
	m.wg.Add(2)
	go m.run()
	go m.finder.run(m.ctx, &m.wg)
	return m, nil
}

// listenIP is the address TURN binds: the first specific listen host, or
// nil (all interfaces) when any is unspecified.
func listenIP(listen []string) net.IP {
	ips := home.ListenIPs(listen)
	if len(ips) == 0 {
		return nil
	}
	return net.ParseIP(ips[0])
}

// Config is the effective relay config (after the flag and the policy).
func (m *Manager) Config() relay.Config { return m.cfg }

// Restricted reports network.restricted (config or policy), or a proven
// firewall that lets out only TCP 443: the node never relays and places
// its own calls through relays only.
func (m *Manager) Restricted() bool {
	r, _ := m.restrictedState()
	return r
}

// restrictedState says whether the node is restricted and, when detection
// (not the config) says so, why.
func (m *Manager) restrictedState() (bool, string) {
	if m.restricted || m.detect == nil {
		return m.restricted, ""
	}
	return m.detect.State()
}

// Registry is the Prometheus registry of the relay and node metrics.
func (m *Manager) Registry() *prometheus.Registry { return m.reg }

// run is the promotion loop.
func (m *Manager) run() {
	defer m.wg.Done()
	for {
		m.step(m.ctx)
		t := time.NewTimer(m.nextStep())
		select {
		case <-m.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-m.wake:
			t.Stop()
		}
	}
}

// nextStep is Interval, or at most unprovenRetry while the node may relay
// but has not proved its reachability yet.
func (m *Manager) nextStep() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.pending:
		// A role change waits out its hold: look again when it is over.
		hold := m.opts.PromoteHold
		if m.promoted {
			hold = m.opts.DemoteHold
		}
		return min(m.opts.Interval, unprovenRetry, max(hold, 10*time.Millisecond))
	case m.cfg.Mode != relay.ModeOff && !m.reach.Reachable:
		return min(m.opts.Interval, unprovenRetry)
	}
	return m.opts.Interval
}

// step gathers one observation, updates the role and acts on a change.
func (m *Manager) step(ctx context.Context) {
	proof := m.checkReachability(ctx)
	in := relay.Inputs{
		Mode:         m.cfg.Mode,
		PolicyAllows: m.policy.Relay.Mode != relay.ModeOff,
		Restricted:   m.Restricted(),
		Reachable:    proof.Reachable,
		Uptime:       time.Since(m.started),
		UpstreamKbps: m.user.UpstreamKbps,
		// Capped below 1 so that relay.max_cpu_load = 1 turns the check
		// off, even on a machine others keep saturated.
		CPULoad: min(m.opts.CPULoad(), 0.999),
	}
	d := m.promoter.Update(in)
	m.mu.Lock()
	m.decision, m.pending = d, relay.Decide(m.cfg, in).Role != d.Role
	m.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	m.mu.Lock()
	promoted := m.promoted
	m.mu.Unlock()
	switch {
	case d.Role == relay.RoleSuperNode && !promoted:
		m.promote(ctx, proof)
	case d.Role == relay.RoleClient && promoted:
		m.demote(ctx, d.Reason)
	}
	m.mu.Lock()
	due := m.promoted && time.Since(m.lastProvide) >= m.opts.ProvideInterval
	promoted = m.promoted
	m.mu.Unlock()
	m.keepReservation(ctx, proof.Reachable, promoted)
	if due {
		m.provide(ctx)
	}
}

// checkReachability re-proves reachability when due: every Interval (at
// most unprovenRetry when the node may relay) while unproven, every
// ReachabilityInterval once proven.
func (m *Manager) checkReachability(ctx context.Context) reach.Result {
	m.mu.Lock()
	cur, at := m.reach, m.reachAt
	m.mu.Unlock()
	every := m.opts.Interval
	switch {
	case cur.Reachable:
		every = m.opts.ReachabilityInterval
	case m.cfg.Mode != relay.ModeOff:
		every = min(every, unprovenRetry)
	}
	if !at.IsZero() && time.Since(at) < every {
		return cur
	}
	res := reach.Prove(ctx, m.h, reach.CandidateAddrs(m.h, m.ranges))
	if ctx.Err() != nil {
		return cur
	}
	state := reach.StatePrivate
	if res.Reachable {
		state = reach.StatePublic
	}
	m.mu.Lock()
	prev := m.reachState
	m.reach, m.reachAt, m.reachState = res, time.Now(), state
	m.mu.Unlock()
	if state != prev {
		m.log.Info("reachability", "state", state, "why", res.Reason)
		if m.reachEm != nil {
			r := network.ReachabilityPrivate
			if res.Reachable {
				r = network.ReachabilityPublic
			}
			_ = m.reachEm.Emit(event.EvtLocalReachabilityChanged{Reachability: r})
		}
	}
	return res
}

// promote starts the super-node services.
func (m *Manager) promote(ctx context.Context, proof reach.Result) {
	if m.cfg.Mode == relay.ModeOff {
		return // the promoter never asks, but never is never
	}
	r, err := m.relayFor(proof)
	if err == nil {
		err = r.Start(ctx)
	}
	if err != nil {
		m.log.Warn("cannot become a super-node: the TURN server does not start", "err", err)
		m.mu.Lock()
		m.startErr = err
		m.mu.Unlock()
		return
	}
	cr, err := circuit.New(m.h,
		circuit.WithResources(relay.CircuitResources(m.cfg)),
		circuit.WithReservationAddressFilter(m.ranges.Counts))
	if err != nil {
		m.log.Warn("cannot become a super-node: circuit relay does not start", "err", err)
		_ = r.Stop()
		m.mu.Lock()
		m.startErr = err
		m.mu.Unlock()
		return
	}
	m.h.SetStreamHandler(turncreds.ProtocolID, m.serveCredentials)
	m.mu.Lock()
	m.circuit, m.promoted, m.startErr = cr, true, nil
	m.lastProvide = time.Time{}
	m.mu.Unlock()
	m.log.Info("super-node: relaying for others", "turn", r.Addrs().UDP, "max_sessions", m.cfg.MaxSessions, "max_kbps", m.cfg.MaxKbps)
}

// relayFor returns the TURN relay, made at the first promotion with the
// address the dial-back proved as its public address when the node listens
// on every interface.
func (m *Manager) relayFor(proof reach.Result) (*relay.Relay, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.relay != nil {
		return m.relay, nil
	}
	var public net.IP
	if m.listenIP == nil || m.listenIP.IsUnspecified() {
		ip, ok := reach.IPOf(proof.Addr)
		if proof.Addr == nil || !ok {
			return nil, errors.New("no proven public address to hand to TURN clients")
		}
		public = net.IP(ip.AsSlice())
	}
	opts := relay.Options{DirectoryKey: m.dirKey, Revoked: m.revoked, ListenIP: m.listenIP, PublicIP: public,
		TestSameHostPeers: m.opts.SameHostPeers,
		Tracer:            m.tracer, Logger: m.log}
	if m.sharedTURN != nil {
		// TURN over TCP is served on the shared port; none on turn_port.
		opts.TURNListeners, opts.SharedTCPOnly = []net.Listener{m.sharedTURN}, true
	}
	if m.sharedTLS != nil {
		opts.TURNTLSListeners = []net.Listener{m.sharedTLS}
	}
	if len(m.key) == ed25519.PrivateKeySize {
		host := ""
		if ip := public; ip != nil {
			host = ip.String()
		} else if m.listenIP != nil {
			host = m.listenIP.String()
		}
		cert, err := sharedport.SelfSignedCertificate(m.key, host)
		if err != nil {
			return nil, err
		}
		opts.TLSCertificate = &cert
	}
	r, err := relay.New(m.cfg, opts)
	if err != nil {
		return nil, err
	}
	m.relay = r
	return r, nil
}

// provide (re-)announces this super-node under relay.ProviderKey.
func (m *Manager) provide(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := m.routing.Provide(pctx, relay.ProviderKey(), true)
	m.mu.Lock()
	if err == nil {
		m.lastProvide = time.Now()
	} else {
		m.lastProvide = time.Now().Add(-m.opts.ProvideInterval + m.opts.Interval) // retry next step
	}
	m.mu.Unlock()
	if err != nil {
		m.log.Info("provide the super-node key in the DHT", "err", err)
	}
}

// demote stops the super-node services: no more credentials, no more
// advertisement, no new circuit reservations, and TURN drains.
func (m *Manager) demote(ctx context.Context, why string) {
	m.log.Info("no longer a super-node", "reason", why)
	m.h.RemoveStreamHandler(turncreds.ProtocolID)
	m.mu.Lock()
	cr, r := m.circuit, m.relay
	m.circuit, m.promoted = nil, false
	m.mu.Unlock()
	if cr != nil {
		_ = cr.Close()
	}
	if r != nil {
		dctx, cancel := context.WithTimeout(ctx, m.opts.DrainTimeout)
		if err := r.Drain(dctx); err != nil {
			m.log.Warn("drain the TURN server", "err", err)
		}
		cancel()
	}
}

// serveCredentials answers /peercall/relay/1 (relay.ServeCredentials: a
// relay at its session limit refuses at once, so the asker moves to its
// next super-node instead of failing its TURN allocation).
func (m *Manager) serveCredentials(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(relayCredentialTimeout))
	remote := s.Conn().RemotePeer()
	raw, err := presence.KeyOf(remote)
	if err != nil {
		m.log.Debug("relay credentials: remote key", "peer", remote, "err", err)
		_ = s.Reset()
		return
	}
	m.mu.Lock()
	r := m.relay
	m.mu.Unlock()
	if r == nil {
		_ = s.Reset()
		return
	}
	if err := r.ServeCredentials(s, raw); err != nil {
		m.log.Debug("relay credentials refused", "peer", remote, "err", err)
	}
}

// Status is the super-node part of a node's status: its role and why,
// its reachability, and what it relays.
type Status struct {
	Role         relay.Role
	RoleReason   string
	Reachability reach.State
	Relay        RelayStatus
}

// RelayStatus is what a super-node relays now: zero counters until the
// node first becomes one.
type RelayStatus struct {
	Sessions     int         `json:"sessions"`
	BytesRelayed uint64      `json:"bytes_relayed"`
	Kbps         float64     `json:"kbps"`
	Limits       RelayLimits `json:"limits"`
}

// RelayLimits are the super-node's caps.
type RelayLimits struct {
	MaxSessions int     `json:"max_sessions"`
	MaxKbps     float64 `json:"max_kbps"`
}

// Status says which role the node has and why, how reachable it is, and
// what it relays.
func (m *Manager) Status() Status {
	d := m.promoter.Current()
	m.mu.Lock()
	if m.decision.Role == d.Role {
		d = m.decision // its reason says what is pending
	}
	startErr, r, state := m.startErr, m.relay, m.reachState
	promoted := m.promoted
	m.mu.Unlock()
	st := Status{Role: d.Role, RoleReason: d.Reason}
	if d.Role == relay.RoleSuperNode && !promoted {
		st.Role = relay.RoleClient
		if startErr != nil {
			st.RoleReason = "promotion failed: " + startErr.Error()
		} else {
			st.RoleReason = "becoming a super-node: " + st.RoleReason
		}
	}
	if len(m.reasons) > 0 && m.cfg.Mode == relay.ModeOff {
		st.RoleReason += " (" + strings.Join(m.reasons, "; ") + ")"
	}
	if restricted, why := m.restrictedState(); restricted {
		state = reach.StateRestricted
		if why != "" && !promoted {
			st.RoleReason = why
		}
	}
	st.Reachability = state
	st.Relay.Limits = RelayLimits{MaxSessions: m.cfg.MaxSessions, MaxKbps: float64(m.cfg.MaxKbps)}
	if r != nil {
		rst := r.Stats()
		st.Relay.Sessions, st.Relay.BytesRelayed, st.Relay.Kbps = rst.Sessions, rst.BytesRelayed, rst.Kbps
	}
	return st
}

// RelayStats is the TURN relay's full snapshot (zero before the first
// promotion).
func (m *Manager) RelayStats() relay.Stats {
	m.mu.Lock()
	r := m.relay
	m.mu.Unlock()
	if r == nil {
		return relay.Stats{}
	}
	return r.Stats()
}

// TURNAddrs are the TURN listener addresses (zero when not relaying).
func (m *Manager) TURNAddrs() relay.Addrs {
	m.mu.Lock()
	r := m.relay
	m.mu.Unlock()
	if r == nil {
		return relay.Addrs{}
	}
	return r.Addrs()
}

// Promoted reports whether the node is a super-node now.
func (m *Manager) Promoted() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.promoted
}

// closeDrain bounds the wait for relayed calls at shutdown.
const closeDrain = 5 * time.Second

// Close demotes the node (draining relayed calls for at most
// DrainTimeout, and 5 s), stops the loops and the dial-back service, and waits for every goroutine it started.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	var errs []error
	m.h.RemoveStreamHandler(turncreds.ProtocolID)
	m.mu.Lock()
	cr, r := m.circuit, m.relay
	m.circuit, m.promoted = nil, false
	m.mu.Unlock()
	if cr != nil {
		errs = append(errs, cr.Close())
	}
	if r != nil {
		// Shutting down (Ctrl-C) waits for relayed calls briefly only.
		ctx, cancel := context.WithTimeout(context.Background(), min(m.opts.DrainTimeout, closeDrain))
		if err := r.Drain(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
		errs = append(errs, r.Close())
	}
	errs = append(errs, m.dialback.Close())
	m.closeEmitter()
	return errors.Join(errs...)
}

func (m *Manager) closeEmitter() {
	if m.reachEm != nil {
		_ = m.reachEm.Close()
	}
}
