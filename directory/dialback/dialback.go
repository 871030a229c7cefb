package dialback

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// Prover dials nodes back. It is safe for concurrent use; dials of one
// peer are made one at a time.
type Prover struct {
	host  host.Host
	gater *gater

	mu    sync.Mutex
	peers map[peer.ID]*sync.Mutex
}

// New starts the Prover's libp2p host: TCP and Noise only, no listening,
// no relay, no metrics, a connection gater that allows only the dial under
// way. Close stops it.
func New() (*Prover, error) {
	g := &gater{allowed: map[peer.ID]ma.Multiaddr{}}
	h, err := libp2p.New(
		libp2p.NoListenAddrs,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.Ping(false),
		libp2p.DisableIdentifyAddressDiscovery(),
		libp2p.ConnectionGater(g),
		libp2p.ResourceManager(&network.NullResourceManager{}),
	)
	if err != nil {
		return nil, fmt.Errorf("dial-back: start a libp2p host: %w", err)
	}
	return &Prover{host: h, gater: g, peers: map[peer.ID]*sync.Mutex{}}, nil
}

// Close stops the host, closing its connections.
func (p *Prover) Close() error { return p.host.Close() }

// Prove dials addr (/ip4/A/tcp/P or /ip6/A/tcp/P) and returns nil when the
// peer there completed a Noise handshake as the holder of peerKey. The
// connection is closed at once. ctx bounds the dial.
func (p *Prover) Prove(ctx context.Context, peerKey ed25519.PublicKey, addr string) error {
	lpub, err := lcrypto.UnmarshalEd25519PublicKey(peerKey)
	if err != nil {
		return fmt.Errorf("dial-back: peer key: %w", err)
	}
	id, err := peer.IDFromPublicKey(lpub)
	if err != nil {
		return fmt.Errorf("dial-back: peer key: %w", err)
	}
	m, err := tcpAddr(addr)
	if err != nil {
		return err
	}
	unlock := p.lockPeer(id)
	defer unlock()

	ps, nw := p.host.Peerstore(), p.host.Network()
	nw.ClosePeer(id) // a connection made before proves nothing about addr
	ps.ClearAddrs(id)
	ps.AddAddr(id, m, time.Minute)
	p.gater.allow(id, m)
	defer func() {
		p.gater.allow(id, nil)
		nw.ClosePeer(id)
		ps.ClearAddrs(id)
		ps.RemovePeer(id)
	}()
	dctx := network.WithForceDirectDial(ctx, "dial-back")
	if d, ok := ctx.Deadline(); ok {
		dctx = network.WithDialPeerTimeout(dctx, time.Until(d))
	}
	conn, err := nw.DialPeer(dctx, id)
	if err != nil {
		return fmt.Errorf("dial-back of %s at %s: %w", id, addr, err)
	}
	if conn.RemotePeer() != id || !conn.RemoteMultiaddr().Equal(m) {
		return fmt.Errorf("dial-back of %s at %s: reached %s at %s instead", id, addr, conn.RemotePeer(), conn.RemoteMultiaddr())
	}
	return nil
}

// lockPeer serialises the dials of one peer (each clears and sets its
// addresses in the peerstore).
func (p *Prover) lockPeer(id peer.ID) (unlock func()) {
	p.mu.Lock()
	l := p.peers[id]
	if l == nil {
		l = &sync.Mutex{}
		p.peers[id] = l
	}
	p.mu.Unlock()
	l.Lock()
	return func() {
		p.mu.Lock()
		if p.peers[id] == l {
			delete(p.peers, id) // waiters hold l and finish; a later dial takes a new one
		}
		p.mu.Unlock()
		l.Unlock()
	}
}

// tcpAddr parses a plain TCP multiaddr: an IP address and a port, nothing
// else (no DNS: the directory dials only the address a login came from).
func tcpAddr(addr string) (ma.Multiaddr, error) {
	m, err := ma.NewMultiaddr(addr)
	if err != nil {
		return nil, fmt.Errorf("dial-back: address %q: %w", addr, err)
	}
	ps := m.Protocols()
	if len(ps) != 2 || (ps[0].Code != ma.P_IP4 && ps[0].Code != ma.P_IP6) || ps[1].Code != ma.P_TCP {
		return nil, fmt.Errorf("dial-back: address %q: want /ip4/A/tcp/P or /ip6/A/tcp/P", addr)
	}
	return m, nil
}

// gater lets the host dial only the one address of the proof under way for
// each peer, and accept nothing.
type gater struct {
	mu      sync.Mutex
	allowed map[peer.ID]ma.Multiaddr
}

func (g *gater) allow(id peer.ID, m ma.Multiaddr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m == nil {
		delete(g.allowed, id)
		return
	}
	g.allowed[id] = m
}

func (g *gater) InterceptPeerDial(id peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.allowed[id] != nil
}

func (g *gater) InterceptAddrDial(id peer.ID, m ma.Multiaddr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	a := g.allowed[id]
	return a != nil && a.Equal(m)
}

func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return false }

func (g *gater) InterceptSecured(dir network.Direction, id peer.ID, _ network.ConnMultiaddrs) bool {
	return dir == network.DirOutbound && g.InterceptPeerDial(id)
}

func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
