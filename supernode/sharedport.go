package supernode

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/presence"
	"github.com/peercall/peercall/relay"
	"github.com/peercall/peercall/relay/sharedport"
)

// SharedPortFor says which TCP port the node shares between TURN over TCP,
// TURN over TLS and libp2p (relay.shared_port), or 0: none when the port
// is unset, relay mode is off (config, the --relay flag in opts, or the
// administrator's policy), or the network is restricted (a node that
// never relays needs no such port). The node opens it before its libp2p
// host, so this is decided before the Manager starts, with the same
// policy.
func SharedPortFor(cfg home.RelayConfig, network home.NetworkConfig, opts Options) (int, error) {
	if opts.Config != nil {
		cfg = *opts.Config
	}
	if cfg.SharedPort == 0 || network.Restricted {
		return 0, nil
	}
	if opts.Mode != "" {
		cfg.Mode = opts.Mode
	}
	pol, err := opts.policy()
	if err != nil {
		return 0, err
	}
	eff, _ := relay.Effective(cfg.Config, pol)
	if eff.Mode == relay.ModeOff || pol.Network.Restricted {
		return 0, nil
	}
	return eff.SharedPort, nil
}

// SharedPort is an open shared port: the demultiplexer and its routes.
type SharedPort struct {
	Demux          *sharedport.Demux
	TURN, TLS, P2P net.Listener
}

// OpenSharedPort listens on host:port (host "" for every interface) and
// routes its connections: STUN-opened ones to TURN, TLS to TURN over TLS,
// multistream-select to libp2p.
func OpenSharedPort(host string, port int, log *slog.Logger) (*SharedPort, error) {
	network := "tcp"
	if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
		network = "tcp4"
	}
	ln, err := net.Listen(network, net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		return nil, fmt.Errorf("relay.shared_port %d: %w (free the port; a port below 1024 needs root or CAP_NET_BIND_SERVICE; or set relay.shared_port = 0)", port, err)
	}
	d := sharedport.NewDemux(ln, log)
	return &SharedPort{Demux: d,
		TURN: d.Route("turn", sharedport.IsSTUN),
		TLS:  d.Route("turns", sharedport.IsTLS),
		P2P:  d.Route("libp2p", sharedport.IsMultistream)}, nil
}

// maxTURNPins bounds the TLS addresses remembered with their super-node's
// key: the super-nodes of a node's recent calls.
const maxTURNPins = 256

// turnDialer is the ICE proxy dialer of every call (media.Config's
// ICEProxyDialer): pion/webrtc checks a turns: server's certificate
// against the system's roots, which a super-node's self-signed certificate
// never passes, so the dialer speaks TLS itself to the addresses of
// turns: URLs, pinned to the key of the super-node that handed them out,
// and plain TCP to turn: ones. ICE runs whatever the dialer returns.
type turnDialer struct {
	tlsDials atomic.Uint64 // TLS handshakes done with a pinned super-node

	mu    sync.Mutex
	pins  map[string]ed25519.PublicKey // host:port -> super-node key
	order []string                     // for dropping the oldest
}

func newTURNDialer() *turnDialer { return &turnDialer{pins: map[string]ed25519.PublicKey{}} }

// dialTimeout bounds a TURN server's TCP connect and TLS handshake.
const turnDialTimeout = 5 * time.Second

// Dial implements golang.org/x/net/proxy.Dialer.
func (d *turnDialer) Dial(network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), turnDialTimeout)
	defer cancel()
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	key, ok := d.pins[addr]
	d.mu.Unlock()
	if !ok {
		return c, nil
	}
	tc := tls.Client(c, sharedport.PinnedTLSConfig(key))
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("TURN over TLS to %s: %w", addr, err)
	}
	d.tlsDials.Add(1)
	return tc, nil
}

func (d *turnDialer) pin(addr string, key ed25519.PublicKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.pins[addr]; !ok {
		d.order = append(d.order, addr)
		if len(d.order) > maxTURNPins {
			delete(d.pins, d.order[0])
			d.order = d.order[1:]
		}
	}
	d.pins[addr] = key
}

// TURNDialer is the dialer to give every call's ICE agent
// (media.Config.ICEProxyDialer), so that TURN over TLS reaches super-nodes.
func (m *Manager) TURNDialer() interface {
	Dial(network, addr string) (net.Conn, error)
} {
	return m.dialer
}

// TURNTLSDials counts the TURN-over-TLS connections this node made to
// super-nodes, each checked against the super-node's key.
func (m *Manager) TURNTLSDials() uint64 { return m.dialer.tlsDials.Load() }

// pinServers prepares super-node id's TURN servers for the dialer: the
// address of each turns: URL is pinned to id's key (the dialer then does
// TLS there), and a plain turn: TCP URL at the same address is dropped
// (the dialer knows only addresses, so both would be TLS).
func (m *Manager) pinServers(id peer.ID, servers []webrtc.ICEServer) []webrtc.ICEServer {
	key, err := presence.KeyOf(id)
	if err != nil {
		return servers
	}
	out := make([]webrtc.ICEServer, 0, len(servers))
	for _, s := range servers {
		tlsAddrs := map[string]bool{}
		for _, u := range s.URLs {
			if a, ok := turnAddr(u, "turns:"); ok {
				tlsAddrs[a] = true
				m.dialer.pin(a, key)
			}
		}
		var urls []string
		for _, u := range s.URLs {
			if a, ok := turnAddr(u, "turn:"); ok && tlsAddrs[a] && strings.Contains(u, "transport=tcp") {
				continue
			}
			urls = append(urls, u)
		}
		s.URLs = urls
		out = append(out, s)
	}
	return out
}

// turnAddr is the host:port of a TURN URL with the given scheme.
func turnAddr(u, scheme string) (string, bool) {
	rest, ok := strings.CutPrefix(u, scheme)
	if !ok {
		return "", false
	}
	hostport, _, _ := strings.Cut(rest, "?")
	if _, err := url.Parse("//" + hostport); err != nil {
		return "", false
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		return "", false
	}
	return hostport, true
}
