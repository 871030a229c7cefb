package p2phost

import (
	"context"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

func delays(t *testing.T, rank func([]ma.Multiaddr) []network.AddrDelay, addrs ...string) map[string]int64 {
	t.Helper()
	var in []ma.Multiaddr
	for _, a := range addrs {
		in = append(in, ma.StringCast(a))
	}
	out := map[string]int64{}
	for _, d := range rank(in) {
		out[d.Addr.String()] = int64(d.Delay)
	}
	if len(out) != len(addrs) {
		t.Fatalf("ranked %d of %d addresses: %v", len(out), len(addrs), out)
	}
	return out
}

func TestTCPFirstOnLAN(t *testing.T) {
	const (
		lo     = "/ip4/127.0.0.1/tcp/4001"
		loQUIC = "/ip4/127.0.0.1/udp/4001/quic-v1"
	)
	lan := delays(t, TCPFirstOnLAN, lo, loQUIC)
	if lan[lo] != 0 || lan[loQUIC] < int64(PrivateQUICDelay) {
		t.Errorf("TCP after %d ns, QUIC after %d ns; want TCP at once, QUIC after at least %v", lan[lo], lan[loQUIC], PrivateQUICDelay)
	}
	// Several LAN addresses: the first TCP one at once, the others as
	// staggered as libp2p staggers them; every QUIC one PrivateQUICDelay
	// later than libp2p's.
	many := []string{"/ip4/192.168.1.5/tcp/4001", "/ip6/fd00::5/tcp/4001", "/ip4/10.0.0.5/tcp/4001",
		"/ip4/192.168.1.5/udp/4001/quic-v1", "/ip6/fd00::5/udp/4001/quic-v1"}
	got, def := delays(t, TCPFirstOnLAN, many...), delays(t, swarm.DefaultDialRanker, many...)
	firstTCP := int64(-1)
	for _, a := range many[:3] {
		if firstTCP < 0 || def[a] < firstTCP {
			firstTCP = def[a]
		}
	}
	for _, a := range many[:3] {
		if got[a] != def[a]-firstTCP {
			t.Errorf("%s after %d ns, want %d (libp2p's %d less its first TCP dial's %d)", a, got[a], def[a]-firstTCP, def[a], firstTCP)
		}
	}
	for _, a := range many[3:] {
		if got[a] != def[a]+int64(PrivateQUICDelay) {
			t.Errorf("%s after %d ns, want libp2p's %d + %v", a, got[a], def[a], PrivateQUICDelay)
		}
	}
	// Public addresses, and a LAN peer without TCP, keep libp2p's order.
	for _, addrs := range [][]string{
		{"/ip4/1.2.3.4/tcp/4001", "/ip4/1.2.3.4/udp/4001/quic-v1"},
		{"/ip4/192.168.1.5/udp/4001/quic-v1", "/ip4/192.168.1.5/udp/4002/quic-v1"},
	} {
		got, want := delays(t, TCPFirstOnLAN, addrs...), delays(t, swarm.DefaultDialRanker, addrs...)
		for a, d := range want {
			if got[a] != d {
				t.Errorf("%s dialled after %d ns, want libp2p's %d", a, got[a], d)
			}
		}
	}
}

// TestLANPeerOverTCP: two hosts with Options, each listening on TCP and
// QUIC on loopback as a node does, connect over TCP (libp2p alone would
// take QUIC), secured with TLS.
func TestLANPeerOverTCP(t *testing.T) {
	mk := func() host.Host {
		h, err := libp2p.New(append(Options(), libp2p.Transport(tcp.NewTCPTransport),
			libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	a, b := mk(), mk()
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	conns := a.Network().ConnsToPeer(b.ID())
	if len(conns) != 1 {
		t.Fatalf("%d connections, want 1", len(conns))
	}
	c := conns[0]
	if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_TCP); err != nil || c.ConnState().Security != libp2ptls.ID {
		t.Errorf("connected over %s with %q, want TCP with %s", c.RemoteMultiaddr(), c.ConnState().Security, libp2ptls.ID)
	}
}

func newHost(t *testing.T, opts ...libp2p.Option) host.Host {
	t.Helper()
	h, err := libp2p.New(append(opts, libp2p.Transport(tcp.NewTCPTransport), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestSecurityNegotiated: two hosts with Options secure their TCP
// connection with TLS; one with Options and one offering Noise only (an
// older node) connect with Noise, whichever dials.
func TestSecurityNegotiated(t *testing.T) {
	for _, c := range []struct {
		name   string
		a, b   []libp2p.Option
		wantID string
	}{
		{"both new", Options(), Options(), libp2ptls.ID},
		{"new dials old", Options(), []libp2p.Option{libp2p.Security(noise.ID, noise.New)}, noise.ID},
		{"old dials new", []libp2p.Option{libp2p.Security(noise.ID, noise.New)}, Options(), noise.ID},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := newHost(t, c.a...), newHost(t, c.b...)
			if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
				t.Fatal(err)
			}
			conns := a.Network().ConnsToPeer(b.ID())
			if len(conns) != 1 {
				t.Fatalf("%d connections, want 1", len(conns))
			}
			if got := string(conns[0].ConnState().Security); got != c.wantID {
				t.Errorf("security %q, want %q", got, c.wantID)
			}
		})
	}
}
