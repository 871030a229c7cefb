package p2phost

import (
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Options are the node's transport and security options besides TCP
// (which the node configures itself: a shared port, no SO_REUSEPORT).
//
// Security: libp2p TLS 1.3 first, Noise second. Both ends offer both and
// take the first they share, so two nodes of this version use TLS (AES-GCM
// on AES instructions) and an older node, which offers Noise only, still
// connects with Noise (a round trip more when we dial it). On TCP, TLS
// costs slightly less CPU per MiB than Noise in BenchmarkLoopback (about
// 0.2 ms/MiB of 4, both ends; its 16 KiB records take four writes per
// chunk where Noise takes one, which eats most of AES-GCM's advantage).
//
// Dials: a LAN or loopback peer is dialled over TCP first and over QUIC
// PrivateQUICDelay later (TCPFirstOnLAN); public addresses keep libp2p's
// order (QUIC first: one round trip fewer to set up, and its hole
// punching).
func Options() []libp2p.Option {
	return []libp2p.Option{
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.Security(noise.ID, noise.New),
		libp2p.SwarmOpts(swarm.WithDialRanker(TCPFirstOnLAN)),
	}
}

// PrivateQUICDelay is how much later than libp2p would a LAN peer's QUIC
// addresses are dialled, when it has a TCP one.
const PrivateQUICDelay = 50 * time.Millisecond

// TCPFirstOnLAN ranks dials as libp2p's DefaultDialRanker does, but for
// private and loopback addresses when the peer has a TCP one there: its
// TCP addresses are dialled first (the first at once, the others staggered
// as libp2p staggers them, so that a dual-stack LAN does not get two
// connections at once) and its QUIC ones PrivateQUICDelay later than
// libp2p would. On a LAN the connection carries files at LAN speed, where
// the transport's CPU is the limit: quic-go costs about twice the CPU per
// MiB of TCP with TLS and yamux (BenchmarkLoopback), while the extra round
// trips of a TCP handshake cost well under a millisecond there.
func TCPFirstOnLAN(addrs []ma.Multiaddr) []network.AddrDelay {
	ranked := swarm.DefaultDialRanker(addrs)
	first := time.Duration(-1)
	for _, r := range ranked {
		if isPrivate(r.Addr) && isTCP(r.Addr) && (first < 0 || r.Delay < first) {
			first = r.Delay
		}
	}
	if first < 0 {
		return ranked
	}
	for i, r := range ranked {
		if !isPrivate(r.Addr) {
			continue
		}
		switch {
		case isTCP(r.Addr):
			ranked[i].Delay = r.Delay - first
		case isQUIC(r.Addr):
			ranked[i].Delay = r.Delay + PrivateQUICDelay
		}
	}
	return ranked
}

func isPrivate(a ma.Multiaddr) bool {
	return (manet.IsPrivateAddr(a) || manet.IsIPLoopback(a)) && !isRelay(a)
}

func isRelay(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// isTCP: a plain TCP address (not a websocket or other protocol over it).
func isTCP(a ma.Multiaddr) bool {
	n := 0
	tcp := false
	ma.ForEach(a, func(c ma.Component) bool {
		n++
		tcp = tcp || c.Protocol().Code == ma.P_TCP
		return true
	})
	return tcp && n == 2
}

func isQUIC(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_QUIC_V1)
	return err == nil
}
