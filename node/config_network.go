package node

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// DefaultDHTMode is the DHT mode of a node whose config does not set
// network.dht_mode. Until super-node promotion (package relay) switches the
// mode from AutoNAT's verdict, every node serves the DHT, so that a small
// network (a campus, a loopback demo) has DHT servers at all.
const DefaultDHTMode = DHTModeServer

// validateDHT checks network.dht_mode and network.bootstrap.
func (n NetworkConfig) validateDHT() error {
	if _, err := DHTMode(n.DHTMode).option(); err != nil {
		return fmt.Errorf("network.dht_mode: %w", err)
	}
	if _, err := parseBootstrapAddrs(n.Bootstrap); err != nil {
		return fmt.Errorf("network.bootstrap: %w", err)
	}
	return nil
}

// parseBootstrapAddrs parses multiaddrs that end in /p2p/PEER-ID, merging
// addresses of the same peer.
func parseBootstrapAddrs(addrs []string) ([]peer.AddrInfo, error) {
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
