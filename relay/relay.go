package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/peercall/peercall/relay/fastpath"
	"github.com/peercall/peercall/relay/peerfilter"
	"github.com/peercall/peercall/relay/tcplisten"
	"github.com/peercall/peercall/relay/turncreds"

	"github.com/peercall/peercall/internal/pionlog"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/reuseport"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/turn/v5"
)

// ErrDisabled is returned by Start when the effective relay mode is off.
var ErrDisabled = errors.New("relaying is disabled (relay.mode is off or the admin policy forbids it)")

// DefaultRealm is the TURN realm of peercall super-nodes.
const DefaultRealm = "peercall"

// Options are a Relay's collaborators and the facts the node knows.
type Options struct {
	// DirectoryKey is the pinned directory public key: only holders of a
	// certificate it signed get credentials. Required.
	DirectoryKey ed25519.PublicKey
	// Revoked, when set, reports whether a certificate serial is on the
	// directory's revocation list: its holder gets no credentials.
	Revoked func(serial uint64) bool
	// ListenIP is the address the TURN listeners and relay sockets bind
	// (nil: 0.0.0.0; tests: 127.0.0.1).
	ListenIP net.IP
	// PublicIP is the address clients reach this node at: the relayed
	// transport address handed out and the host of credential URLs (nil:
	// ListenIP, which then must not be unspecified).
	PublicIP net.IP
	// TLSHost names the turns: URL host (the TLS certificate's name; empty:
	// PublicIP).
	TLSHost string
	// TLSConfig serves TURN over TLS on relay.turn_tls_port and on
	// TURNTLSListeners. Either it or TLSCertificate is required when that
	// port is set or such listeners are given.
	TLSConfig *tls.Config
	// TLSCertificate is the TURN-over-TLS certificate when TLSConfig is
	// nil (for example SelfSignedCertificate(identityKey, host)).
	TLSCertificate *tls.Certificate
	// TURNListeners carry TURN over TCP to the relay in addition to its
	// own listener on relay.turn_port: for example a Demux route of the
	// node's port 443 (Route("turn", IsSTUN)). The relay owns them from
	// New on: while it is stopped it closes the connections they accept,
	// and Close closes them. Their port goes into the credential URLs
	// (turn:HOST:PORT?transport=tcp).
	TURNListeners []net.Listener
	// TURNTLSListeners carry TLS connections (Route("turns", IsTLS)): the
	// relay terminates TLS on them and serves TURN (turns:HOST:PORT?
	// transport=tcp). Owned as TURNListeners are.
	TURNTLSListeners []net.Listener
	// SharedTCPOnly: open no TCP listener on relay.turn_port (UDP stays
	// there); TCP and TLS clients come through TURNListeners and
	// TURNTLSListeners only. Fewer URLs mean fewer allocations per call.
	SharedTCPOnly bool
	// OwnIPs are more addresses of this host that peers must never be
	// relayed to (the node's observed public addresses, a NAT's external
	// address); the interface, listen and public addresses are always
	// included.
	OwnIPs []net.IP
	// TestSameHostPeers lets the relay send to this host's own addresses
	// on any port, for tests that run every node on 127.0.0.1 (they must
	// also allow the loopback range). Never set it in production: it
	// exposes every UDP service of the host to the relay's clients.
	TestSameHostPeers bool
	// Net opens every socket: the TURN listeners and the relay sockets
	// (nil: the operating system's network). With a Net that has no TCP
	// (pion's vnet, for in-process NAT tests) the server is UDP-only.
	Net transport.Net
	// UDPListeners is how many UDP sockets share the TURN port (0:
	// GOMAXPROCS), each read by its own goroutine.
	UDPListeners int
	// NoFastPath sends every packet through pion/turn's own data path and
	// the kernel (the comparison of BenchmarkRelayedCalls); by default the
	// relay handles ChannelData itself (package fastpath).
	NoFastPath bool
	// Secret is the HMAC key of the credentials (nil: 32 random bytes, so
	// credentials die with the process).
	Secret []byte
	// Realm is the TURN realm (empty: DefaultRealm).
	Realm string
	// Tracer receives metrics events (nil: none).
	Tracer MetricsTracer
	// Logger receives the relay's logs (nil: slog.Default()).
	Logger *slog.Logger
	// Now is the clock of credential issue and expiry (nil: time.Now).
	Now func() time.Time
}

// Addrs are the bound TURN listener addresses (nil when not listening).
// SharedTCP and SharedTLS are the addresses of Options.TURNListeners and
// Options.TURNTLSListeners while the relay runs.
type Addrs struct {
	UDP, TCP, TLS        net.Addr
	SharedTCP, SharedTLS []net.Addr
}

// Relay is a super-node's TURN service with its limits and counters. Make
// one with New, Start it on promotion, Drain or Stop it on demotion (it can
// be started again), Close it on shutdown. Its methods are safe for
// concurrent use.
type Relay struct {
	cfg     Config
	opts    Options
	secret  []byte
	log     *slog.Logger
	tracer  MetricsTracer
	now     func() time.Time
	bucket  *bucket
	epoch   time.Time      // of bucket's clock
	allowed []netip.Prefix // relay.allowed_peer_ranges
	tlsCfg  *tls.Config
	ports   relayPorts // ports of open relay sockets

	counters counters

	handed []*handoff     // Options.TURNListeners and TURNTLSListeners
	pumps  sync.WaitGroup // one accept loop per handed listener

	mu       sync.Mutex
	idle     *sync.Cond // signalled when sessions drops to 0
	server   *turn.Server
	addrs    Addrs
	urls     []string
	draining bool
	closed   bool
	sessions int
	perUser  map[string]int
	conns    map[*meteredConn]struct{} // open relay sockets
	byPort   map[int]*meteredConn      // by relay port, for pion's allocation events
	byTuple  map[string]*meteredConn   // by 5-tuple, for Refresh events
	kbps     float64
	stopRate chan struct{}
	rateDone chan struct{}
}

// New validates cfg and opts and returns a stopped relay.
func New(cfg Config, opts Options) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("relay config: %w", err)
	}
	if len(opts.DirectoryKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("relay: Options.DirectoryKey is %d bytes, want the %d-byte directory public key (run peercall init)", len(opts.DirectoryKey), ed25519.PublicKeySize)
	}
	if opts.ListenIP == nil {
		opts.ListenIP = net.IPv4zero
	}
	if opts.PublicIP == nil {
		if opts.ListenIP.IsUnspecified() {
			return nil, fmt.Errorf("relay: Options.PublicIP is needed when listening on %v: set the address clients reach this node at", opts.ListenIP)
		}
		opts.PublicIP = opts.ListenIP
	}
	allowed, err := peerfilter.Parse("relay.allowed_peer_ranges", cfg.AllowedPeerRanges)
	if err != nil {
		return nil, fmt.Errorf("relay config: %w", err)
	}
	tlsCfg := opts.TLSConfig
	if tlsCfg == nil && opts.TLSCertificate != nil {
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{*opts.TLSCertificate}, MinVersion: tls.VersionTLS12}
	}
	if (cfg.TURNTLSPort != 0 || len(opts.TURNTLSListeners) > 0) && tlsCfg == nil {
		return nil, fmt.Errorf("relay: TURN over TLS (relay.turn_tls_port %d, %d shared TLS listeners) needs a certificate (Options.TLSConfig or Options.TLSCertificate); set relay.turn_tls_port = 0 or provide one", cfg.TURNTLSPort, len(opts.TURNTLSListeners))
	}
	if opts.SharedTCPOnly && len(opts.TURNListeners)+len(opts.TURNTLSListeners) == 0 {
		return nil, errors.New("relay: Options.SharedTCPOnly without TURNListeners or TURNTLSListeners would leave TCP clients no way in")
	}
	if opts.UDPListeners <= 0 {
		opts.UDPListeners = runtime.GOMAXPROCS(0)
	}
	if opts.Realm == "" {
		opts.Realm = DefaultRealm
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Relay{
		cfg:     cfg,
		opts:    opts,
		secret:  opts.Secret,
		log:     opts.Logger,
		tracer:  opts.Tracer,
		now:     opts.Now,
		bucket:  newBucket(cfg.MaxKbps),
		epoch:   time.Now(),
		allowed: allowed,
		tlsCfg:  tlsCfg,
		perUser: map[string]int{},
		conns:   map[*meteredConn]struct{}{},
		byPort:  map[int]*meteredConn{},
		byTuple: map[string]*meteredConn{},
		counters: counters{
			refused:       newReasonCounters(refusalReasons),
			dropped:       newReasonCounters(dropReasons),
			closed:        newKeyCounters(closeCauses),
			peerForbidden: newKeyCounters(peerfilter.Kinds()),
		},
	}
	r.idle = sync.NewCond(&r.mu)
	if r.tracer == nil {
		r.tracer = nopTracer{}
	}
	if len(r.secret) == 0 {
		r.secret = make([]byte, 32)
		if _, err := rand.Read(r.secret); err != nil {
			return nil, fmt.Errorf("relay: credential secret: %w", err)
		}
	}
	for _, l := range opts.TURNListeners {
		r.handed = append(r.handed, &handoff{ln: l})
	}
	for _, l := range opts.TURNTLSListeners {
		r.handed = append(r.handed, &handoff{ln: l, tls: true})
	}
	for _, h := range r.handed {
		r.pumps.Add(1)
		go r.pump(h)
	}
	return r, nil
}

// Config is the config the relay enforces.
func (r *Relay) Config() Config { return r.cfg }

// Running reports whether the TURN server is listening.
func (r *Relay) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.server != nil
}

// Addrs are the bound listener addresses.
func (r *Relay) Addrs() Addrs {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addrs
}

// Start opens the TURN listeners (UDP and TCP on relay.turn_port, TLS on
// relay.turn_tls_port when set) and logs the limits. With relay.mode off it
// opens nothing and returns ErrDisabled. Starting a running relay is a
// no-op.
func (r *Relay) Start(ctx context.Context) error {
	if r.cfg.Mode == ModeOff {
		return fmt.Errorf("relay: start: %w", ErrDisabled)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("relay: start: the relay is closed")
	}
	if r.server != nil {
		return nil
	}
	nw := r.opts.Net
	if nw == nil {
		var err error
		if nw, err = stdnet.NewNet(); err != nil {
			return fmt.Errorf("relay: start: network: %w", err)
		}
	}
	udps, tcp, err := r.listen(ctx, nw)
	if err != nil {
		return err
	}
	closeAll := func() {
		for _, u := range udps {
			u.Close()
		}
		if tcp != nil {
			tcp.Close()
		}
	}
	var tlsLn net.Listener
	if r.cfg.TURNTLSPort != 0 {
		ln, err := nw.ListenTCP("tcp", &net.TCPAddr{IP: r.opts.ListenIP, Port: r.cfg.TURNTLSPort})
		if err != nil {
			closeAll()
			return fmt.Errorf("relay: TURN over TLS on TCP port %d: %w (free the port or change relay.turn_tls_port)", r.cfg.TURNTLSPort, err)
		}
		tlsLn = tls.NewListener(tcplisten.NewTracking(ln), r.tlsCfg)
	}

	filter := peerfilter.New(r.allowed, nw, r.opts.ListenIP, r.opts.PublicIP, r.opts.OwnIPs)
	if r.opts.TestSameHostPeers {
		r.log.Warn("relay: TestSameHostPeers is set: clients may reach every UDP service of this host")
		filter.ForgetSelf()
	}
	permit := r.permit(filter)
	gen := &allocator{r: r, inner: r.innerGenerator(nw), filter: filter}
	events := turn.EventHandler{OnAuth: r.onAuth, OnAllocationCreated: r.onAllocationCreated}
	if !r.opts.NoFastPath {
		gen.fast = fastpath.NewTable()
		events.OnChannelCreated, events.OnChannelDeleted = onChannel(gen.fast, true), onChannel(gen.fast, false)
	}
	sc := turn.ServerConfig{
		Realm:              r.opts.Realm,
		AuthHandler:        r.authenticate,
		QuotaHandler:       r.admit,
		EventHandler:       events,
		AllocationLifetime: r.cfg.AllocationLifetime,
		LoggerFactory:      pionlog.New(r.log, pionlog.Server),
	}
	for _, u := range udps {
		if uc, ok := u.(*net.UDPConn); ok && gen.fast != nil {
			u = gen.fast.Wrap(uc)
		}
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{PacketConn: u, RelayAddressGenerator: gen, PermissionHandler: permit})
	}
	listeners := []net.Listener{}
	if tcp != nil {
		listeners = append(listeners, tcp)
	}
	if tlsLn != nil {
		listeners = append(listeners, tlsLn)
	}
	var sharedTCP, sharedTLS []net.Addr
	for _, h := range r.handed {
		h.cur = tcplisten.NewChan(h.ln.Addr())
		var l net.Listener = tcplisten.NewTracking(h.cur)
		if h.tls {
			l = tls.NewListener(l, r.tlsCfg)
			sharedTLS = append(sharedTLS, h.ln.Addr())
		} else {
			sharedTCP = append(sharedTCP, h.ln.Addr())
		}
		listeners = append(listeners, l)
	}
	for _, l := range listeners {
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: l, RelayAddressGenerator: gen, PermissionHandler: permit})
	}
	srv, err := turn.NewServer(sc)
	if err != nil {
		for _, u := range udps {
			u.Close()
		}
		for _, l := range listeners {
			l.Close()
		}
		for _, h := range r.handed {
			h.cur = nil
		}
		return fmt.Errorf("relay: start TURN server: %w", err)
	}
	r.server = srv
	r.draining = false
	r.addrs = Addrs{UDP: udps[0].LocalAddr(), SharedTCP: sharedTCP, SharedTLS: sharedTLS}
	if tcp != nil {
		r.addrs.TCP = tcp.Addr()
	}
	if tlsLn != nil {
		r.addrs.TLS = tlsLn.Addr()
	}
	r.urls = r.buildURLs()
	r.stopRate, r.rateDone = make(chan struct{}), make(chan struct{})
	go r.sampleRate(r.stopRate, r.rateDone)
	r.log.Info("relay: TURN server started", "udp", r.addrs.UDP, "udp_sockets", len(udps), "tcp", r.addrs.TCP, "tls", r.addrs.TLS,
		"public_ip", r.opts.PublicIP, "max_kbps", r.cfg.MaxKbps, "max_sessions", r.cfg.MaxSessions,
		"max_sessions_per_user", r.cfg.MaxSessionsPerUser, "max_session_duration", r.cfg.MaxSessionDuration,
		"idle_timeout", r.cfg.IdleTimeout, "allocation_lifetime", r.cfg.AllocationLifetime,
		"allowed_peer_ranges", r.cfg.AllowedPeerRanges, "shared_tcp", sharedTCP, "shared_tls", sharedTLS,
		"relay_ports", fmt.Sprintf("%d-%d", r.cfg.RelayPortMin, r.cfg.RelayPortMax))
	return nil
}

// listen binds UDP and TCP on relay.turn_port through nw. With port 0
// (tests) it picks a free UDP port and binds TCP on the same number, so
// both share one URL port. A Net without TCP (pion's vnet) gives a UDP-only
// server: tcp is nil. UDP is read by several sockets sharing the port
// (SO_REUSEPORT: the kernel spreads clients over them by 5-tuple), so
// that pion/turn's per-socket read loops use every core.
func (r *Relay) listen(ctx context.Context, nw transport.Net) ([]net.PacketConn, net.Listener, error) {
	ip := r.opts.ListenIP
	lc := nw.CreateListenConfig(&net.ListenConfig{Control: reuseport.Control})
	for try := 0; ; try++ {
		udp, err := lc.ListenPacket(ctx, "udp", net.JoinHostPort(ip.String(), strconv.Itoa(r.cfg.TURNPort)))
		if err != nil {
			return nil, nil, fmt.Errorf("relay: TURN on UDP port %d: %w (free the port or change relay.turn_port)", r.cfg.TURNPort, err)
		}
		port := udp.LocalAddr().(*net.UDPAddr).Port
		if r.opts.SharedTCPOnly {
			return r.moreUDP(ctx, lc, udp), nil, nil
		}
		tcp, err := nw.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: port})
		switch {
		case err == nil:
			return r.moreUDP(ctx, lc, udp), tcplisten.NewTracking(tcp), nil
		case errors.Is(err, transport.ErrNotSupported):
			r.log.Info("relay: the injected network has no TCP; serving TURN over UDP only")
			return r.moreUDP(ctx, lc, udp), nil, nil
		}
		udp.Close()
		if r.cfg.TURNPort != 0 || try == 9 {
			return nil, nil, fmt.Errorf("relay: TURN on TCP port %d: %w (free the port or change relay.turn_port)", port, err)
		}
	}
}

// moreUDP opens Options.UDPListeners-1 more sockets on first's address; a
// network that cannot share the port keeps one.
func (r *Relay) moreUDP(ctx context.Context, lc transport.ListenConfig, first net.PacketConn) []net.PacketConn {
	conns := []net.PacketConn{first}
	for len(conns) < r.opts.UDPListeners {
		c, err := lc.ListenPacket(ctx, "udp", first.LocalAddr().String())
		if err != nil {
			r.log.Debug("relay: one UDP socket on the TURN port", "err", err)
			break
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		setSocketBuffers(c)
	}
	return conns
}

// turnSocketBuffer is the receive and send buffer asked for on the TURN
// UDP sockets (Linux doubles it for its bookkeeping and caps it at
// net.core.rmem_max / wmem_max). A small voice packet takes about 1 KiB of
// buffer, so the default 208 KiB holds some 200 packets: a few ms at tens
// of thousands of packets/s, less than a scheduling hiccup. 1 MiB rides
// out tens of ms; much more would only turn overload into delay, which
// voice tolerates worse than loss.
const turnSocketBuffer = 1 << 20

func setSocketBuffers(c net.PacketConn) {
	if b, ok := c.(interface{ SetReadBuffer(int) error }); ok {
		_ = b.SetReadBuffer(turnSocketBuffer) // best effort: a smaller buffer still works
	}
	if b, ok := c.(interface{ SetWriteBuffer(int) error }); ok {
		_ = b.SetWriteBuffer(turnSocketBuffer)
	}
}

func (r *Relay) innerGenerator(nw transport.Net) turn.RelayAddressGenerator {
	if r.cfg.RelayPortMin != 0 {
		return &turn.RelayAddressGeneratorPortRange{
			RelayAddress: r.opts.PublicIP, Address: r.opts.ListenIP.String(),
			MinPort: uint16(r.cfg.RelayPortMin), MaxPort: uint16(r.cfg.RelayPortMax),
			MaxRetries: 50, Net: nw,
		}
	}
	return &turn.RelayAddressGeneratorStatic{RelayAddress: r.opts.PublicIP, Address: r.opts.ListenIP.String(), Net: nw}
}

func (r *Relay) buildURLs() []string {
	host := r.opts.PublicIP.String()
	tlsHost := r.opts.TLSHost
	if tlsHost == "" {
		tlsHost = host
	}
	hp := func(h string, a net.Addr) string {
		_, port, _ := net.SplitHostPort(a.String())
		return net.JoinHostPort(h, port)
	}
	urls := []string{"turn:" + hp(host, r.addrs.UDP) + "?transport=udp"}
	add := func(u string) {
		if !slices.Contains(urls, u) && len(urls) < turncreds.MaxURLs {
			urls = append(urls, u)
		}
	}
	// The shared port (443) first: it is the way in for clients whose
	// firewall passes nothing else.
	for _, a := range r.addrs.SharedTCP {
		add("turn:" + hp(host, a) + "?transport=tcp")
	}
	for _, a := range r.addrs.SharedTLS {
		add("turns:" + hp(tlsHost, a) + "?transport=tcp")
	}
	if r.addrs.TCP != nil {
		add("turn:" + hp(host, r.addrs.TCP) + "?transport=tcp")
	}
	if r.addrs.TLS != nil {
		add("turns:" + hp(tlsHost, r.addrs.TLS) + "?transport=tcp")
	}
	return urls
}

// Drain stops issuing credentials and refuses new allocations (reason
// "draining"), waits until the open sessions end or ctx is done, then
// stops. A node calls it on demotion so that calls in progress finish.
func (r *Relay) Drain(ctx context.Context) error {
	r.mu.Lock()
	if r.server == nil {
		r.mu.Unlock()
		return nil
	}
	r.draining = true
	stop := context.AfterFunc(ctx, func() {
		r.mu.Lock()
		r.idle.Broadcast()
		r.mu.Unlock()
	})
	for r.sessions > 0 && ctx.Err() == nil {
		r.idle.Wait()
	}
	r.mu.Unlock()
	stop()
	return r.Stop()
}

// Stop closes the listeners and every allocation and waits for them; the
// relay can be started again.
func (r *Relay) Stop() error {
	r.mu.Lock()
	srv := r.server
	if srv == nil {
		r.mu.Unlock()
		return nil
	}
	r.server = nil
	r.draining = false
	r.addrs = Addrs{}
	r.urls = nil
	for _, h := range r.handed {
		h.cur = nil // pion's Close closes the listener of this run
	}
	stopRate, rateDone := r.stopRate, r.rateDone
	r.mu.Unlock()

	err := srv.Close()
	close(stopRate)
	<-rateDone
	// pion closes allocations from its read-loop goroutines after the
	// listeners close. Close every relay socket too (an allocation made
	// while pion was closing would otherwise outlive the server), then
	// wait for the sessions to be released.
	r.mu.Lock()
	open := make([]*meteredConn, 0, len(r.conns))
	for c := range r.conns {
		open = append(open, c)
	}
	r.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		r.mu.Lock()
		r.idle.Broadcast()
		r.mu.Unlock()
	})
	defer stop()
	r.mu.Lock()
	for r.sessions > 0 && ctx.Err() == nil {
		r.idle.Wait()
	}
	left := r.sessions
	r.mu.Unlock()
	r.log.Info("relay: TURN server stopped")
	if left > 0 {
		err = errors.Join(err, fmt.Errorf("relay: %d sessions still open 5s after stop", left))
	}
	if err != nil {
		return fmt.Errorf("relay: stop: %w", err)
	}
	return nil
}

// Close stops the relay for good, closes Options.TURNListeners and
// TURNTLSListeners and waits for their accept loops.
func (r *Relay) Close() error {
	err := r.Stop()
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	for _, h := range r.handed {
		_ = h.ln.Close()
	}
	r.pumps.Wait()
	return err
}

// Stats is a snapshot of the counters, for `status --json`.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	s := Stats{Running: r.server != nil, Sessions: r.sessions, Kbps: r.kbps}
	r.mu.Unlock()
	c := &r.counters
	s.SessionsTotal = c.sessionsTotal.Load()
	s.SessionsExpired = c.sessionsExpired.Load()
	s.BytesRelayed = c.bytesRelayed.Load()
	s.PacketsRelayed = c.packetsRelayed.Load()
	s.PacketsHanded = c.handed.Load()
	s.CredentialsIssued = c.credentialsIssued.Load()
	s.Dropped = c.dropped.snapshot()
	s.Refused = c.refused.snapshot()
	s.Closed = c.closed.snapshot()
	s.PeerForbidden = c.peerForbidden.snapshot()
	s.Limits = limitsOf(r.cfg)
	return s
}

func (r *Relay) refuse(reason Reason) {
	r.counters.refused.add(reason)
	r.tracer.Refused(reason)
}

// sampleRate computes the relayed rate once a second for Stats.
func (r *Relay) sampleRate(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last, lastAt := r.counters.bytesRelayed.Load(), time.Now()
	for {
		select {
		case <-stop:
			r.mu.Lock()
			r.kbps = 0
			r.mu.Unlock()
			return
		case now := <-t.C:
			b := r.counters.bytesRelayed.Load()
			kbps := float64(b-last) * 8 / 1000 / now.Sub(lastAt).Seconds()
			last, lastAt = b, now
			r.mu.Lock()
			r.kbps = kbps
			r.mu.Unlock()
		}
	}
}
