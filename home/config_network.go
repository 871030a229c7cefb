package home

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// DHT modes of network.dht_mode: a client only queries; a server also
// stores records and answers queries; auto lets libp2p switch to server
// when the node proves itself publicly reachable.
const (
	DHTModeAuto   = "auto"
	DHTModeClient = "client"
	DHTModeServer = "server"
)

// DefaultDHTMode is the DHT mode of a node whose config does not set
// network.dht_mode: every node serves the DHT, so that a small network (a
// campus, a loopback demo) has DHT servers at all.
const DefaultDHTMode = DHTModeServer

// validateDHT checks network.dht_mode and network.bootstrap.
func (n NetworkConfig) validateDHT() error {
	switch n.DHTMode {
	case "", DHTModeAuto, DHTModeClient, DHTModeServer:
	default:
		return fmt.Errorf("network.dht_mode: %q is not one of auto, client, server", n.DHTMode)
	}
	if _, err := ParseBootstrap(n.Bootstrap); err != nil {
		return fmt.Errorf("network.bootstrap: %w", err)
	}
	return nil
}

// ParseBootstrap parses network.bootstrap: multiaddrs that end in
// /p2p/PEER-ID, merging addresses of the same peer.
func ParseBootstrap(addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	idx := map[peer.ID]int{}
	for _, a := range addrs {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil {
			return nil, fmt.Errorf("%q is not a multiaddr ending in /p2p/PEER-ID (e.g. \"/ip4/192.0.2.7/tcp/7070/p2p/12D3KooW...\"): %w", a, err)
		}
		if i, ok := idx[ai.ID]; ok {
			out[i].Addrs = append(out[i].Addrs, ai.Addrs...)
			continue
		}
		idx[ai.ID] = len(out)
		out = append(out, *ai)
	}
	return out, nil
}
