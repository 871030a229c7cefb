package node

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

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/relay"
)

// RelayManager is the node's super-node side and its relay client. It loads
// the administrator's policy, computes the effective relay config (logging
// each policy override), proves reachability by dial-back, and every
// RelayOptions.Interval feeds relay.Promoter with mode, policy, restricted
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
type RelayManager struct {
	h          host.Host
	dht        *DHT
	dirKey     ed25519.PublicKey
	cert       func() (*crypto.Certificate, error)
	log        *slog.Logger
	opts       RelayOptions
	user       RelayConfig
	cfg        relay.Config // effective
	reasons    []string
	policy     relay.AdminPolicy
	restricted bool                // network.restricted (config or policy)
	detect     *restrictedDetector // nil when configured restricted
	ranges     addrRanges
	listenIP   net.IP // nil: all interfaces
	dhtAuto    bool
	started    time.Time

	promoter *relay.Promoter
	dialback *dialbackService
	reg      *prometheus.Registry
	tracer   *relay.PrometheusTracer
	metrics  *metricsServer
	reachEm  event.Emitter
	client   *relayClient
	rsv      circuitState // this node's reservation while unreachable

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	relay       *relay.Relay // made at the first promotion
	circuit     *circuit.Relay
	promoted    bool
	startErr    error
	reach       dialbackResult
	reachState  Reachability
	reachAt     time.Time
	lastProvide time.Time
	decision    relay.Decision // the latest Update's answer
	pending     bool           // the inputs ask for the other role, held back by hysteresis
	closed      bool
}

// relayDeps are what a RelayManager needs from its node.
type relayDeps struct {
	host    host.Host
	dht     *DHT
	dirKey  ed25519.PublicKey
	cert    func() (*crypto.Certificate, error)
	network NetworkConfig
	log     *slog.Logger
	calls   func() int // calls going on, for metrics
	// directoryURL is directory.url, an address restricted-network
	// detection probes.
	directoryURL string
}

func newRelayManager(d relayDeps, cfg RelayConfig, opts RelayOptions) (*RelayManager, error) {
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
	pol, err := relay.LoadPolicy(opts.PolicyPath)
	if err != nil {
		return nil, err
	}
	eff, reasons := relay.Effective(cfg.Config, pol)
	ranges, err := parseRanges(d.network.ReachableRanges)
	if err != nil {
		return nil, err
	}
	m := &RelayManager{
		h: d.host, dht: d.dht, dirKey: d.dirKey, cert: d.cert, log: d.log, opts: opts,
		user: cfg, cfg: eff, reasons: reasons, policy: pol,
		restricted: d.network.Restricted || pol.Network.Restricted,
		ranges:     ranges, listenIP: listenIP(d.network.Listen),
		dhtAuto: DHTMode(d.network.DHTMode) == DHTModeAuto,
		started: time.Now(), reachState: ReachabilityUnknown,
	}
	if d.network.Restricted && eff.Mode != relay.ModeOff {
		m.reasons = append(m.reasons, "network.restricted = true in config.toml: relay.mode "+string(eff.Mode)+" -> off")
		m.cfg.Mode = relay.ModeOff
	}
	for _, r := range m.reasons {
		m.log.Info("relay setting changed by policy", "reason", r)
	}
	m.log.Info("relay config", "mode", m.cfg.Mode, "policy", pol.Path, "restricted", m.restricted,
		"reachable_ranges", d.network.ReachableRanges, "upstream_kbps", cfg.UpstreamKbps,
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
	m.registerNodeMetrics(d.calls)
	if m.dhtAuto {
		if m.reachEm, err = m.h.EventBus().Emitter(new(event.EvtLocalReachabilityChanged)); err != nil {
			return nil, fmt.Errorf("relay manager: reachability emitter: %w", err)
		}
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if opts.MetricsAddr != "" {
		if m.metrics, err = startMetrics(opts.MetricsAddr, m.reg, m.log); err != nil {
			m.cancel()
			m.closeEmitter()
			return nil, err
		}
	}
	m.dialback = newDialbackService(m.h, m.log)
	m.client = newRelayClient(m)
	if !m.restricted {
		m.detect = newHostDetector(m.h, d.directoryURL, m.ranges, m.log)
		if f := opts.restricted; f != nil {
			m.detect.targets, m.detect.probe, m.detect.known = f.targets, f.probe, f.known
		}
		m.wg.Add(1)
		go m.detect.run(m.ctx, &m.wg)
	}
	m.wg.Add(2)
	go m.run()
	go m.client.run(m.ctx, &m.wg)
	return m, nil
}

// listenIP is the address TURN binds: the first specific listen host, or
// nil (all interfaces) when any is unspecified.
func listenIP(listen []string) net.IP {
	ips := listenIPs(listen)
	if len(ips) == 0 {
		return nil
	}
	return net.ParseIP(ips[0])
}

// Config is the effective relay config (after the flag and the policy).
func (m *RelayManager) Config() relay.Config { return m.cfg }

// PolicyReasons are the lines saying what the admin policy changed.
func (m *RelayManager) PolicyReasons() []string { return append([]string(nil), m.reasons...) }

// Restricted reports network.restricted (config or policy), or a proven
// firewall that lets out only TCP 443: the node never relays and places
// its own calls through relays only.
func (m *RelayManager) Restricted() bool {
	r, _ := m.restrictedState()
	return r
}

// restrictedState says whether the node is restricted and, when detection
// (not the config) says so, why.
func (m *RelayManager) restrictedState() (bool, string) {
	if m.restricted || m.detect == nil {
		return m.restricted, ""
	}
	return m.detect.state()
}

// Registry is the Prometheus registry of the relay and node metrics.
func (m *RelayManager) Registry() *prometheus.Registry { return m.reg }

// MetricsAddr is the bound metrics address ("" when not serving).
func (m *RelayManager) MetricsAddr() string {
	if m.metrics == nil {
		return ""
	}
	return m.metrics.addr()
}

// run is the promotion loop.
func (m *RelayManager) run() {
	defer m.wg.Done()
	for {
		m.step(m.ctx)
		t := time.NewTimer(m.nextStep())
		select {
		case <-m.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// nextStep is Interval, or at most unprovenRetry while the node may relay
// but has not proved its reachability yet.
func (m *RelayManager) nextStep() time.Duration {
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
func (m *RelayManager) step(ctx context.Context) {
	reach := m.checkReachability(ctx)
	in := relay.Inputs{
		Mode:         m.cfg.Mode,
		PolicyAllows: m.policy.Relay.Mode != relay.ModeOff,
		Restricted:   m.Restricted(),
		Reachable:    reach.Reachable,
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
		m.promote(ctx, reach)
	case d.Role == relay.RoleClient && promoted:
		m.demote(ctx, d.Reason)
	}
	m.mu.Lock()
	due := m.promoted && time.Since(m.lastProvide) >= m.opts.ProvideInterval
	promoted = m.promoted
	m.mu.Unlock()
	m.keepReservation(ctx, reach.Reachable, promoted)
	if due {
		m.provide(ctx)
	}
}

// checkReachability re-proves reachability when due: every Interval (at
// most unprovenRetry when the node may relay) while unproven, every
// ReachabilityInterval once proven.
func (m *RelayManager) checkReachability(ctx context.Context) dialbackResult {
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
	res := proveReachable(ctx, m.h, candidateAddrs(m.h, m.ranges))
	if ctx.Err() != nil {
		return cur
	}
	state := ReachabilityPrivate
	if res.Reachable {
		state = ReachabilityPublic
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
func (m *RelayManager) promote(ctx context.Context, reach dialbackResult) {
	if m.cfg.Mode == relay.ModeOff {
		return // the promoter never asks, but never is never
	}
	r, err := m.relayFor(reach)
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
		circuit.WithReservationAddressFilter(m.ranges.counts))
	if err != nil {
		m.log.Warn("cannot become a super-node: circuit relay does not start", "err", err)
		_ = r.Stop()
		m.mu.Lock()
		m.startErr = err
		m.mu.Unlock()
		return
	}
	m.h.SetStreamHandler(relay.ProtocolID, m.serveCredentials)
	m.mu.Lock()
	m.circuit, m.promoted, m.startErr = cr, true, nil
	m.lastProvide = time.Time{}
	m.mu.Unlock()
	m.log.Info("super-node: relaying for others", "turn", r.Addrs().UDP, "max_sessions", m.cfg.MaxSessions, "max_kbps", m.cfg.MaxKbps)
}

// relayFor returns the TURN relay, made at the first promotion with the
// address the dial-back proved as its public address when the node listens
// on every interface.
func (m *RelayManager) relayFor(reach dialbackResult) (*relay.Relay, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.relay != nil {
		return m.relay, nil
	}
	var public net.IP
	if m.listenIP == nil || m.listenIP.IsUnspecified() {
		ip, ok := ipOf(reach.Addr)
		if reach.Addr == nil || !ok {
			return nil, errors.New("no proven public address to hand to TURN clients")
		}
		public = net.IP(ip.AsSlice())
	}
	r, err := relay.New(m.cfg, relay.Options{DirectoryKey: m.dirKey, ListenIP: m.listenIP, PublicIP: public,
		Tracer: m.tracer, Logger: m.log})
	if err != nil {
		return nil, err
	}
	m.relay = r
	return r, nil
}

// provide (re-)announces this super-node under relay.ProviderKey.
func (m *RelayManager) provide(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := m.dht.Provide(pctx, relay.ProviderKey(), true)
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
func (m *RelayManager) demote(ctx context.Context, why string) {
	m.log.Info("no longer a super-node", "reason", why)
	m.h.RemoveStreamHandler(relay.ProtocolID)
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

// serveCredentials answers /peercall/relay/1. A relay at its session limit
// refuses at once (code not-running, with the reason), so the asker moves
// to its next super-node instead of failing its TURN allocation.
func (m *RelayManager) serveCredentials(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(relayCredentialTimeout))
	remote := s.Conn().RemotePeer()
	pub, err := remote.ExtractPublicKey()
	var raw ed25519.PublicKey
	if err == nil {
		raw, err = ed25519Raw(pub)
	}
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
	if st := r.Stats(); st.Sessions >= m.cfg.MaxSessions {
		err = refuseCredentials(s, relay.CodeNotRunning,
			fmt.Sprintf("at its session limit (relay.max_sessions %d): ask another super-node", m.cfg.MaxSessions))
	} else {
		err = r.ServeCredentials(s, raw)
	}
	if err != nil {
		m.log.Debug("relay credentials refused", "peer", remote, "err", err)
	}
}

// refuseCredentials reads a request and answers it with code and msg.
func refuseCredentials(s network.Stream, code relay.Code, msg string) error {
	body, err := readCredentialFrame(s)
	if err != nil {
		return err
	}
	q, err := relay.UnmarshalCredentialRequest(body)
	if err != nil {
		code, msg = relay.CodeBadRequest, err.Error()
	}
	b, err := relay.CredentialResponse{Nonce: q.Nonce, Code: code, Message: msg}.Marshal()
	if err != nil {
		return err
	}
	if err := writeCredentialFrame(s, b); err != nil {
		return err
	}
	return errors.New(msg)
}

// Status fills the role, reachability and relay parts of a node's status.
func (m *RelayManager) Status() (role, reason, reachability string, rs RelayStatus) {
	d := m.promoter.Current()
	m.mu.Lock()
	if m.decision.Role == d.Role {
		d = m.decision // its reason says what is pending
	}
	startErr, r, reach := m.startErr, m.relay, m.reachState
	promoted := m.promoted
	m.mu.Unlock()
	role, reason = string(d.Role), d.Reason
	if d.Role == relay.RoleSuperNode && !promoted {
		role = string(relay.RoleClient)
		if startErr != nil {
			reason = "promotion failed: " + startErr.Error()
		} else {
			reason = "becoming a super-node: " + reason
		}
	}
	if len(m.reasons) > 0 && m.cfg.Mode == relay.ModeOff {
		reason += " (" + strings.Join(m.reasons, "; ") + ")"
	}
	if restricted, why := m.restrictedState(); restricted {
		reach = ReachabilityRestricted
		if why != "" && !promoted {
			reason = why
		}
	}
	rs.Limits = RelayLimits{MaxSessions: m.cfg.MaxSessions, MaxKbps: float64(m.cfg.MaxKbps)}
	if r != nil {
		st := r.Stats()
		rs.Sessions, rs.BytesRelayed, rs.Kbps = st.Sessions, st.BytesRelayed, st.Kbps
	}
	return role, reason, string(reach), rs
}

// RelayStats is the TURN relay's full snapshot (zero before the first
// promotion).
func (m *RelayManager) RelayStats() relay.Stats {
	m.mu.Lock()
	r := m.relay
	m.mu.Unlock()
	if r == nil {
		return relay.Stats{}
	}
	return r.Stats()
}

// TURNAddrs are the TURN listener addresses (zero when not relaying).
func (m *RelayManager) TURNAddrs() relay.Addrs {
	m.mu.Lock()
	r := m.relay
	m.mu.Unlock()
	if r == nil {
		return relay.Addrs{}
	}
	return r.Addrs()
}

// Promoted reports whether the node is a super-node now.
func (m *RelayManager) Promoted() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.promoted
}

// closeDrain bounds the wait for relayed calls at shutdown.
const closeDrain = 5 * time.Second

// Close demotes the node (draining relayed calls for at most
// DrainTimeout, and 5 s), stops the loops, the dial-back service and the metrics
// server, and waits for every goroutine it started.
func (m *RelayManager) Close() error {
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
	m.h.RemoveStreamHandler(relay.ProtocolID)
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
	errs = append(errs, m.dialback.close())
	if m.metrics != nil {
		errs = append(errs, m.metrics.close())
	}
	m.closeEmitter()
	return errors.Join(errs...)
}

func (m *RelayManager) closeEmitter() {
	if m.reachEm != nil {
		_ = m.reachEm.Close()
	}
}
