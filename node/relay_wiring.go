package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/media"
)

// startRelay starts the node's relay manager with config.toml's [relay]
// and Options.Relay.
func (n *Node) startRelay() (err error) {
	n.relay, err = newRelayManager(relayDeps{
		host: n.host, dht: n.dht, dirKey: n.dirKey, cert: n.currentCertificate,
		network: n.cfg.Network, log: n.log, calls: func() int { return len(n.Calls()) },
		directoryURL: n.cfg.Directory.URL,
	}, n.relayConfig(), n.opts.Relay)
	return err
}

// relayConfig is config.toml's [relay], or the defaults without one.
func (n *Node) relayConfig() RelayConfig {
	if n.cfg.Relay == nil {
		return DefaultRelayConfig()
	}
	return *n.cfg.Relay
}

// relayMedia adds TURN servers of the fastest willing super-node to cfg and
// returns that super-node. Without one the call tries direct paths only,
// unless forceRelay or network.restricted asks for a relay, which then
// fails the call with an error wrapping ErrNoRelay.
func (n *Node) relayMedia(ctx context.Context, p peer.ID, forceRelay bool, cfg *media.Config) (peer.ID, error) {
	if n.relay == nil {
		if forceRelay {
			return "", fmt.Errorf("%w: this node runs no relay client", ErrNoRelay)
		}
		return "", nil
	}
	restricted := n.relay.Restricted()
	force := forceRelay || restricted
	ch, err := n.relay.PickRelay(ctx, p, force)
	if err != nil {
		if force {
			return "", fmt.Errorf("the call must go through a relay (--force-relay, or a restricted network): %w", err)
		}
		n.log.Info("no relay (TURN) for this call; trying direct paths only", "err", err)
		return "", nil
	}
	servers := ch.Servers
	if f := tcpTURNOnly(servers); restricted && len(f) > 0 {
		servers = f
	}
	cfg.ICEServers = append(cfg.ICEServers, servers...)
	cfg.RelayOnly = cfg.RelayOnly || force
	return ch.Relay, nil
}

// relayPeerID is the call summary's relay_peer_id: the super-node that
// issued this side's TURN credentials, when ICE chose this side's relay
// candidate ("" for a direct route, or when only the peer's side relays).
func relayPeerID(rt media.Route, relayID peer.ID) string {
	if rt.Kind == "relay" && relayID != "" && strings.Contains(rt.Local, " relay") {
		return relayID.String()
	}
	return ""
}

// tcpTURNOnly drops TURN-over-UDP URLs: behind a firewall that lets out
// only TCP 443 their allocations can only time out, and ICE gathering
// would wait for them before the TCP/TLS ones count. A server left with no
// URL is dropped.
func tcpTURNOnly(servers []webrtc.ICEServer) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, s := range servers {
		var urls []string
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turns:") || strings.Contains(u, "transport=tcp") {
				urls = append(urls, u)
			}
		}
		if len(urls) > 0 {
			s.URLs = urls
			out = append(out, s)
		}
	}
	return out
}
