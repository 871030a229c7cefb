package relay

import (
	"fmt"
	"net"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/transport"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/libp2p/go-libp2p/p2p/transport/tcpreuse"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// SharedTCPTransport is go-libp2p's TCP transport with one more trick: a
// listen address that equals the address of a listener it was made with
// (a Demux route, Route("libp2p", IsMultistream)) is served from that
// listener instead of a socket of its own. Connections keep their real
// remote address, so libp2p's resource manager, connection gater,
// identify and AutoNAT see the client, not a local proxy. Dialing is the
// TCP transport's.
type SharedTCPTransport struct {
	*tcp.TcpTransport
	upgrader transport.Upgrader

	mu     sync.Mutex
	shared map[string]net.Listener // by multiaddr; removed when listened on
}

// NewSharedTCPTransport returns a constructor for libp2p.Transport that
// serves the given listeners' addresses from them:
//
//	d := relay.NewDemux(ln443, log)
//	p2p := d.Route("libp2p", relay.IsMultistream)
//	libp2p.New(libp2p.ListenAddrs(ma.StringCast("/ip4/0.0.0.0/tcp/443"), ...),
//		libp2p.Transport(relay.NewSharedTCPTransport(p2p), tcp.DisableReuseport()), ...)
//
// It takes the place of tcp.NewTCPTransport (the same options apply). The
// host must listen on exactly the listener's address (ln.Addr() as a
// multiaddr) for the listener to be used; libp2p then owns it and closes
// it with the host.
func NewSharedTCPTransport(listeners ...net.Listener) func(transport.Upgrader, network.ResourceManager, *tcpreuse.ConnMgr, ...tcp.Option) (*SharedTCPTransport, error) {
	return func(up transport.Upgrader, rcmgr network.ResourceManager, sharedTCP *tcpreuse.ConnMgr, opts ...tcp.Option) (*SharedTCPTransport, error) {
		inner, err := tcp.NewTCPTransport(up, rcmgr, sharedTCP, opts...)
		if err != nil {
			return nil, err
		}
		t := &SharedTCPTransport{TcpTransport: inner, upgrader: up, shared: map[string]net.Listener{}}
		for _, l := range listeners {
			a, err := manet.FromNetAddr(l.Addr())
			if err != nil {
				return nil, fmt.Errorf("shared libp2p listener %v: %w", l.Addr(), err)
			}
			t.shared[a.String()] = l
		}
		return t, nil
	}
}

// Listen serves laddr from the shared listener with that address, if one
// was given, and otherwise listens as the TCP transport does.
func (t *SharedTCPTransport) Listen(laddr ma.Multiaddr) (transport.Listener, error) {
	t.mu.Lock()
	l, ok := t.shared[laddr.String()]
	delete(t.shared, laddr.String())
	t.mu.Unlock()
	if !ok {
		return t.TcpTransport.Listen(laddr)
	}
	mal, err := manet.WrapNetListener(l)
	if err != nil {
		return nil, fmt.Errorf("shared libp2p listener %v: %w", laddr, err)
	}
	return t.upgrader.UpgradeGatedMaListener(t, t.upgrader.GateMaListener(mal)), nil
}

func (t *SharedTCPTransport) String() string { return "TCP (shared port)" }
