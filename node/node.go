package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peercall/peercall/admission"
	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/chat"
	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/dirlink"
	"github.com/peercall/peercall/events"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/media"
	"github.com/peercall/peercall/presence"
	"github.com/peercall/peercall/reach"
	"github.com/peercall/peercall/signalling"
	"github.com/peercall/peercall/supernode"
)

// certRenewMargin: a certificate that expires sooner gets a warning asking
// for `peercall login`.
const certRenewMargin = 24 * time.Hour

// The call manager uses the super-node client for TURN and failover.
var _ call.Relays = (*supernode.Manager)(nil)

// Options tune a node beyond config.toml. The zero value is a node on the
// configured listen addresses with the default sound card.
type Options struct {
	// Listen overrides network.listen (`run --listen`).
	Listen []string
	// FreePortFallback listens on free ports when the configured ones are
	// taken (`call` with no running node).
	FreePortFallback bool
	// AutoAnswer accepts every incoming call that passes the certificate
	// check (`run --auto-answer`).
	AutoAnswer bool
	// AudioIn and AudioOut are the devices of calls (default: "default").
	AudioIn, AudioOut string
	// Audio, when set, opens each call's devices instead (tests).
	Audio call.AudioOpener
	// Media is the base media configuration of every call (ports, bitrate,
	// ListenIPs). ListenIPs defaults to the listen hosts when all are
	// specific addresses.
	Media media.Config
	// ICEServers, when set, supplies STUN/TURN servers per call instead of
	// the super-nodes (tests).
	ICEServers func(ctx context.Context, callee peer.ID) ([]webrtc.ICEServer, error)
	// Relay tunes the super-node manager (`run --relay`, `--policy`;
	// tests shorten its timings).
	Relay supernode.Options
	// MetricsAddr serves Prometheus metrics on host:port at /metrics
	// (`run --metrics`; "" = none).
	MetricsAddr string
	// RingTimeout ends unanswered calls (default 30 s).
	RingTimeout time.Duration
	// PresenceTTL and PresenceRetry: see presence.Config (defaults 1 h and
	// 5 s; tests shorten them).
	PresenceTTL, PresenceRetry time.Duration
	// RevocationRefresh is how often the revocation list is fetched
	// (default dirlink.DefaultRevocationRefresh).
	RevocationRefresh time.Duration
	// PresenceShutdown bounds the tombstone's publication at Close
	// (default 10 s).
	PresenceShutdown time.Duration
	// LookupTimeout bounds the DHT part of a lookup (default 5 s) before
	// the directory is asked.
	LookupTimeout time.Duration
	// DirectoryOptions are the base options of the directory client.
	DirectoryOptions directory.ClientOptions
	// OnCall receives the progress of every call, incoming and outgoing
	// (`run` prints it).
	OnCall func(call.Event)
	// NoControl skips the home lock and the control socket (a node used
	// only in-process).
	NoControl bool
	// NoPresence publishes no presence record: a node run for one
	// outgoing call (`call` with no node running) is not there to be
	// called, and should leave no record, nor a tombstone, behind.
	NoPresence bool
	// Softphone tunes the contact list and the web interface
	// (node/softphone.go).
	Softphone SoftphoneOptions
	// Logger receives the node's logs (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Node is one running peercall peer: it composes the libp2p host, the DHT
// with this user's presence, the super-node manager, the call manager and
// the control socket, and owns their lifetimes.
type Node struct {
	home    *home.Home
	cfg     home.Config
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	key     ed25519.PrivateKey
	dirKey  ed25519.PublicKey
	user    string
	host    host.Host
	adm     *admission.Admission
	shared  *supernode.SharedPort // relay.shared_port (nil: none)
	dht     *presence.DHT
	dir     *directory.Client // nil without a directory URL
	cache   *presence.HostCache
	resolve *presence.Resolver
	sig     *signalling.Manager
	calls   *call.Manager
	lock    *home.Lock
	control *control.Server
	relay   *supernode.Manager
	files   *fileTransfers // node/transfer.go
	chat    *chat.Service  // node/chat.go
	policy  adminPolicy    // policy.toml (node/policy.go)
	reg     *prometheus.Registry
	metrics *metricsServer
	soft    softphone // contacts, event stream, web interface
	started time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	presenceCancel context.CancelFunc
	presenceDone   chan struct{}
	presenceMu     sync.Mutex
	presenceOK     bool
	presenceErr    error
	presenceCh     chan struct{} // closed at the first successful publication
	addrsChanged   chan struct{} // kicked when the addresses to announce may have changed
	link           *dirlink.Link // check-ins, renewal, revocations (node/dirlink.go)
	netw           netState      // network-change watching (node/netchange.go)

	closeOnce sync.Once
	closeErr  error
}

// New starts a node on h: it takes the home's lock, checks the saved
// certificate, starts the libp2p host and the DHT, joins the network through
// the bootstrap peers (config, directory, host cache), starts the super-node
// manager and the call manager, publishes presence and opens the control
// socket. ctx bounds the start only.
func New(ctx context.Context, h *home.Home, opts Options) (*Node, error) {
	cfg, err := h.Config()
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RingTimeout == 0 {
		opts.RingTimeout = 30 * time.Second
	}
	if opts.PresenceRetry == 0 {
		// A node that starts first (nobody to store its record yet)
		// publishes soon after its first peers arrive.
		opts.PresenceRetry = 5 * time.Second
	}
	if len(opts.Listen) > 0 {
		for _, a := range opts.Listen {
			if err := home.CheckListenAddr(a); err != nil {
				return nil, fmt.Errorf("--listen: %w", err)
			}
		}
		cfg.Network.Listen = opts.Listen
	}
	followListen := opts.Media.ListenIPs == nil && opts.Media.ListenIPsNow == nil
	if opts.Media.ListenIPs == nil {
		opts.Media.ListenIPs = home.ListenIPs(cfg.Network.Listen)
	}
	if cfg.Directory.Key == "" {
		return nil, fmt.Errorf("no directory is configured in %s; run `peercall init --directory URL` first", h.Dir())
	}
	n := &Node{home: h, cfg: cfg, opts: opts, log: opts.Logger, now: opts.Now, started: time.Now(),
		presenceCh: make(chan struct{}), presenceDone: make(chan struct{}), addrsChanged: make(chan struct{}, 1)}
	if followListen {
		n.opts.Media.ListenIPsNow = n.mediaListenIPs // calls gather where the host listens now
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.soft.bus = events.New(n.now)
	if err := n.start(ctx); err != nil {
		n.cancel()
		_ = n.shutdown()
		return nil, err
	}
	n.log.Info("node started", "user", n.user, "peer", n.host.ID(), "addrs", n.host.Addrs())
	return n, nil
}

// start brings the node's parts up in order; New shuts down what started
// when it fails.
func (n *Node) start(ctx context.Context) (err error) {
	if err := n.loadPolicy(); err != nil {
		return err
	}
	cfg, opts, h := n.cfg, n.opts, n.home
	if n.dirKey, err = crypto.ParsePublicKey(cfg.Directory.Key); err != nil {
		return fmt.Errorf("directory.key: %w; run `peercall init` again", err)
	}
	if !opts.NoControl {
		if n.lock, err = h.Lock(); err != nil {
			return err
		}
	}
	if n.key, _, err = h.IdentityKey(); err != nil {
		return err
	}
	cert, err := n.currentCertificate()
	if err != nil {
		return err
	}
	if cert.Expires.Sub(n.now()) < certRenewMargin {
		n.log.Warn("certificate expires soon; run `peercall login` to renew it", "user", cert.Username, "expires", cert.Expires)
	}
	n.user = cert.Username
	if cfg.Directory.URL != "" {
		dopts := opts.DirectoryOptions
		dopts.DirectoryKey = n.dirKey
		dopts.Logger = n.log
		if n.dir, err = directory.NewClient(cfg.Directory.URL, dopts); err != nil {
			return fmt.Errorf("directory.url: %w", err)
		}
	}
	if err := n.newDirLink(); err != nil {
		return err
	}
	var cerr error
	n.cache, cerr = presence.OpenHostCache(h.Path(home.HostCacheFile))
	if cerr != nil {
		n.log.Warn("host cache unusable", "err", cerr)
	}
	n.newRegistry()
	// Admission: peers that have not proven a directory certificate get a
	// small budget of their own (package admission).
	if n.adm, err = admission.New(admission.Config{DirectoryKey: n.dirKey, Certificate: n.currentCertificate,
		Revoked: n.revoked, Known: n.cache.Verified, Registry: n.reg, Logger: n.log, Now: n.now}); err != nil {
		return err
	}
	if err := n.openSharedPort(); err != nil {
		return err
	}
	var sharedP2P net.Listener
	if n.shared != nil {
		sharedP2P = n.shared.P2P
	}
	n.newNetWatch()
	if n.host, err = newHost(n.key, cfg.Network.Listen, opts.FreePortFallback, sharedP2P, n.hostOptions); err != nil {
		return err
	}
	n.netw.host.Store(&n.host)
	n.adm.Start(n.host)
	n.watchConnections()
	boot := n.bootstrapPeers(ctx)
	n.dht, err = presence.NewDHT(ctx, n.host, presence.DHTConfig{
		DirectoryKey:   n.dirKey,
		Mode:           presence.DHTMode(cfg.Network.DHTMode),
		BootstrapPeers: boot,
	})
	if err != nil {
		return err
	}
	n.resolve = &presence.Resolver{DHT: n.dht, Cache: n.cache, DirectoryKey: n.dirKey,
		Timeout: opts.LookupTimeout, Logger: n.log, Now: n.now, Revoked: n.revoked}
	if n.dir != nil {
		n.resolve.Directory = n.dir
	}
	// Calls are taken before the node joins the network: a peer that
	// connects during the join can already ring it.
	if err := n.startRelay(); err != nil {
		return err
	}
	if err := n.startCalls(); err != nil {
		return err
	}
	if err := n.startTransfers(); err != nil {
		return err
	}
	n.link.Start()
	n.runNetWatch()
	n.connectBootstrap(ctx, boot)
	if err := n.startSoftphone(ctx); err != nil {
		return err
	}
	if err := n.startChat(ctx); err != nil {
		return err
	}
	n.wg.Add(1)
	go n.saveHostCache()
	if !opts.NoPresence {
		n.startPresence()
	}
	if err := n.serveMetrics(); err != nil {
		return err
	}
	if !opts.NoControl {
		if n.control, err = control.Serve(h.Path(home.ControlSocket), n); err != nil {
			return err
		}
	}
	return nil
}

// startRelay starts the super-node manager with config.toml's [relay] and
// Options.Relay.
func (n *Node) startRelay() (err error) {
	ro := n.opts.Relay
	ro.Registry = n.reg
	deps := supernode.Deps{
		Host: n.host, Routing: n.dht, DirectoryKey: n.dirKey, Certificate: n.currentCertificate,
		Network: n.cfg.Network, Logger: n.log, DirectoryURL: n.cfg.Directory.URL,
		OnCircuitChange: n.addrsMayHaveChanged, Key: n.key, Revoked: n.revoked,
	}
	if n.shared != nil {
		deps.SharedTURN, deps.SharedTURNTLS = n.shared.TURN, n.shared.TLS
	}
	n.relay, err = supernode.New(deps, n.cfg.RelaySection(), ro)
	return err
}

// inviteTimeout resets an incoming signalling stream that sends no INVITE
// in time (a caller sends it at once).
const inviteTimeout = 5 * time.Second

// openSharedPort opens relay.shared_port (TURN over TCP and TLS and libp2p
// on one TCP port) on the first listen host, when the node may relay.
func (n *Node) openSharedPort() error {
	port, err := supernode.SharedPortFor(n.cfg.RelaySection(), n.cfg.Network, n.opts.Relay)
	if err != nil || port == 0 {
		return err
	}
	host := ""
	if ips := home.ListenIPs(n.cfg.Network.Listen); len(ips) > 0 {
		host = ips[0]
	}
	n.shared, err = supernode.OpenSharedPort(host, port, n.log)
	return err
}

// startCalls starts signalling and the call manager.
func (n *Node) startCalls() (err error) {
	n.sig, err = signalling.New(signalling.Config{
		LocalPeer:        n.host.ID().String(),
		MaxCalls:         1,
		RingTimeout:      n.opts.RingTimeout,
		InviteTimeout:    inviteTimeout,
		Dial:             n.dialSignal,
		CertificateCheck: n.checkCertificate,
		Logger:           n.log,
	})
	if err != nil {
		return fmt.Errorf("start call signalling: %w", err)
	}
	if n.opts.Media.ICEProxyDialer == nil && n.relay != nil {
		// TURN over TLS to super-nodes, pinned to their keys.
		n.opts.Media.ICEProxyDialer = n.relay.TURNDialer()
	}
	cc := call.Config{
		Signalling: n.sig, Self: n.host.ID(), Resolve: n.reachPeer, Certificate: n.currentCertificate,
		Media: n.opts.Media, ICEServers: n.opts.ICEServers, AudioIn: n.opts.AudioIn, AudioOut: n.opts.AudioOut,
		Audio: n.opts.Audio, AutoAnswer: n.opts.AutoAnswer, OnCall: n.onCall, Screen: n.screenCall, Logger: n.log,
	}
	cc.DSP, cc.DSPVirtual = call.DSPConfig(n.cfg.AudioSection())
	if n.relay != nil {
		cc.Relays = n.relay
	}
	if n.calls, err = call.New(cc); err != nil {
		return err
	}
	n.host.SetStreamHandler(signalling.ProtocolID, n.adm.GuardSignal(n.handleSignalStream))
	n.host.SetStreamHandler(signalling.ProtocolTrickle, n.adm.GuardSignal(n.handleSignalStream))
	return nil
}

// currentCertificate is the certificate of presence and INVITEs: it
// rereads the home, so that a renewal by `peercall login` is picked up.
func (n *Node) currentCertificate() (*crypto.Certificate, error) {
	return n.home.ValidCertificate(n.dirKey, n.key, n.now())
}

// startPresence runs presence.Run until Close.
func (n *Node) startPresence() {
	pctx, cancel := context.WithCancel(context.Background())
	n.presenceCancel = cancel
	cfg := presence.Config{
		Certificate: n.currentCertificate,
		Addrs:       n.presenceAddrs,
		TTL:         n.opts.PresenceTTL,
		Retry:       n.opts.PresenceRetry,
		Shutdown:    n.opts.PresenceShutdown,
		Logger:      n.log,
		Now:         n.now,
		Changed:     n.addrsChanged,
		OnPublish: func(p *presence.Record, err error) {
			n.presenceMu.Lock()
			defer n.presenceMu.Unlock()
			n.presenceErr = err
			if err == nil && p != nil && !p.Withdrawn && !n.presenceOK {
				n.presenceOK = true
				close(n.presenceCh)
			}
		},
	}
	if cfg.Retry != 0 && cfg.TTL == 0 {
		cfg.TTL = presence.DefaultTTL
	}
	if cfg.Retry != 0 {
		cfg.Republish = min(presence.DefaultRepublish, cfg.TTL/3)
	}
	go func() {
		defer close(n.presenceDone)
		if err := presence.Run(pctx, n.dht, cfg); err != nil {
			n.log.Warn("presence withdrawal failed; lookups may show this user online until the record expires", "err", err)
		}
	}()
}

// addrsMayHaveChanged kicks what announces the node's addresses.
func (n *Node) addrsMayHaveChanged() {
	select {
	case n.addrsChanged <- struct{}{}:
	default:
	}
}

// presenceAddrs are the addresses a presence record announces: the host's
// and the circuit addresses of a reservation at a super-node.
func (n *Node) presenceAddrs() []ma.Multiaddr {
	addrs := n.host.Addrs()
	if n.relay != nil {
		addrs = append(addrs, n.relay.CircuitAddrs()...)
	}
	return addrs
}

// hostCacheSaveInterval is how often the host cache is written while the
// node runs (and at Close), so a node that is killed keeps most of it.
const hostCacheSaveInterval = 5 * time.Minute

// saveHostCache writes the host cache now (after the start's bootstrap)
// and every hostCacheSaveInterval until Close.
func (n *Node) saveHostCache() {
	defer n.wg.Done()
	t := time.NewTicker(hostCacheSaveInterval)
	defer t.Stop()
	for {
		if err := n.cache.Save(); err != nil {
			n.log.Warn("save host cache", "err", err)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PresencePublished is closed once the node's presence record has been
// stored in the DHT.
func (n *Node) PresencePublished() <-chan struct{} { return n.presenceCh }

// PresenceError returns the outcome of the latest presence publication.
func (n *Node) PresenceError() error {
	n.presenceMu.Lock()
	defer n.presenceMu.Unlock()
	return n.presenceErr
}

// watchConnections records connected peers in the host cache and kicks
// presence when the host's own addresses change.
func (n *Node) watchConnections() {
	n.host.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			n.cache.Seen(c.RemotePeer(), nil, n.now())
		},
	})
	sub, err := n.host.EventBus().Subscribe([]any{new(event.EvtPeerIdentificationCompleted), new(event.EvtLocalAddressesUpdated)})
	if err != nil {
		n.log.Warn("cannot watch identified peers and address changes; the host cache will lack addresses", "err", err)
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer sub.Close()
		for {
			select {
			case <-n.ctx.Done():
				return
			case ev, ok := <-sub.Out():
				if !ok {
					return
				}
				switch e := ev.(type) {
				case event.EvtPeerIdentificationCompleted:
					if addrs := directAddrs(e.ListenAddrs); len(addrs) > 0 {
						n.cache.Seen(e.Peer, addrs, n.now())
					}
				case event.EvtLocalAddressesUpdated:
					n.localAddrsUpdated(e)
				}
			}
		}
	}()
}

// directAddrs drops circuit addresses (relay state, not worth caching or
// binding) and keeps the rest.
func directAddrs(addrs []ma.Multiaddr) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range addrs {
		if !reach.IsCircuit(a) {
			out = append(out, a)
		}
	}
	return out
}

// Username returns the user this node is logged in as.
func (n *Node) Username() string { return n.user }

// PeerID returns the node's libp2p peer ID.
func (n *Node) PeerID() peer.ID { return n.host.ID() }

// Addrs returns the node's libp2p addresses.
func (n *Node) Addrs() []ma.Multiaddr { return n.host.Addrs() }

// AddrInfo returns the node's peer ID and addresses (to bootstrap others).
func (n *Node) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}
}

// Home returns the node's home.
func (n *Node) Home() *home.Home { return n.home }

// DHT returns the node's DHT (status, tests).
func (n *Node) DHT() *presence.DHT { return n.dht }

// Relay returns the node's super-node manager (role, relay client).
func (n *Node) Relay() *supernode.Manager { return n.relay }

// Host returns the node's libp2p host.
func (n *Node) Host() host.Host { return n.host }

// Close hangs up every call, withdraws presence (a tombstone), stops the
// DHT and the host, saves the host cache, removes the control socket and
// waits for every goroutine the node started.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.shutdown() })
	return n.closeErr
}

func (n *Node) shutdown() error {
	var errs []error
	if n.control != nil {
		errs = append(errs, n.control.Close())
	}
	if n.chat != nil {
		errs = append(errs, n.chat.Close()) // before the contact list it asks
	}
	errs = append(errs, n.stopSoftphone())
	if n.host != nil {
		n.host.RemoveStreamHandler(signalling.ProtocolID)
		n.host.RemoveStreamHandler(signalling.ProtocolTrickle)
	}
	if n.files != nil {
		errs = append(errs, n.files.close())
	}
	if n.sig != nil {
		errs = append(errs, n.sig.Close())
	}
	if n.calls != nil {
		errs = append(errs, n.calls.Close())
	}
	if n.relay != nil {
		errs = append(errs, n.relay.Close())
	}
	if n.metrics != nil {
		errs = append(errs, n.metrics.close())
	}
	n.cancel()
	n.wg.Wait()
	if n.link != nil {
		n.link.Close() // withdraws the check-in
	}
	if n.netw.w != nil {
		n.netw.w.Close()
	}
	if n.presenceCancel != nil {
		n.presenceCancel()
		<-n.presenceDone
	}
	if n.dht != nil {
		errs = append(errs, n.dht.Close())
	}
	if n.adm != nil {
		errs = append(errs, n.adm.Close())
	}
	if n.host != nil {
		errs = append(errs, n.host.Close())
	}
	if n.shared != nil {
		errs = append(errs, n.shared.Demux.Close())
	}
	if n.cache != nil {
		if err := n.cache.Save(); err != nil {
			n.log.Warn("save host cache", "err", err)
		}
	}
	if n.dir != nil {
		errs = append(errs, n.dir.Close())
	}
	if n.lock != nil {
		errs = append(errs, n.lock.Release())
	}
	return errors.Join(errs...)
}

// dialSignal opens a signalling stream to p.
func (n *Node) dialSignal(ctx context.Context, p string) (io.ReadWriteCloser, error) {
	id, err := peer.Decode(p)
	if err != nil {
		return nil, fmt.Errorf("peer ID %q: %w", p, err)
	}
	// The INVITE goes out once the callee has our certificate (the hello),
	// so it is answered within the callee's certified budget; without a
	// hello it still carries the certificate.
	if err := n.adm.WaitCertified(ctx, id); err != nil {
		n.log.Debug("calling a peer that has not exchanged certificates", "peer", id, "err", err)
	}
	// A callee behind a NAT answers over its super-node's circuit: a
	// limited connection, enough for signalling.
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "signalling"), id, signalling.ProtocolTrickle, signalling.ProtocolID)
	if err != nil {
		return nil, fmt.Errorf("open %s to %s: %w", signalling.ProtocolID, id, err)
	}
	// While the call goes on, the connection manager leaves its
	// connection alone.
	return n.adm.Protect(s), nil
}

// handleSignalStream serves an incoming signalling stream.
func (n *Node) handleSignalStream(s network.Stream) {
	remote := s.Conn().RemotePeer()
	if err := n.sig.HandleStream(n.ctx, remote.String(), n.adm.Protect(s)); err != nil {
		n.log.Info("incoming call refused", "peer", remote, "err", err)
	}
}

// checkCertificate is the signalling certificate check: the INVITE's
// certificate must be the directory's and name remotePeer, the stream's
// authenticated peer.
func (n *Node) checkCertificate(remotePeer string, raw []byte) (string, error) {
	id, err := peer.Decode(remotePeer)
	if err != nil {
		return "", fmt.Errorf("remote peer ID %q: %w", remotePeer, err)
	}
	cert, err := crypto.ParseCertificate(raw)
	if err != nil {
		return "", err
	}
	if err := n.resolve.Verify(cert, id); err != nil {
		return "", fmt.Errorf("certificate of %q presented by %s: %w", cert.Username, id, err)
	}
	n.cache.Remember(id, cert, n.now())
	n.adm.Certify(id, cert)
	return cert.Username, nil
}
