package node

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/home"
)

// Bootstrap bounds.
const (
	// maxBootstrapPeers is how many peers a start dials at most.
	maxBootstrapPeers = 32
	// bootstrapDirectoryTimeout bounds the directory's /v1/bootstrap call,
	// so a directory that is down delays the start by this much at most.
	bootstrapDirectoryTimeout = 5 * time.Second
	// bootstrapDialTimeout bounds the dials of the start.
	bootstrapDialTimeout = 5 * time.Second
)

// bootstrapPeers gathers the peers to join the DHT through, in order:
// network.bootstrap from the config, the directory's /v1/bootstrap, then the
// host cache (peers seen before, most recent first). Self and duplicates are
// left out.
func (n *Node) bootstrapPeers(ctx context.Context) []peer.AddrInfo {
	var all []peer.AddrInfo
	cfgPeers, err := home.ParseBootstrap(n.cfg.Network.Bootstrap)
	if err != nil { // Validate has checked them
		n.log.Warn("network.bootstrap", "err", err)
	}
	all = append(all, cfgPeers...)
	if n.dir != nil {
		dctx, cancel := context.WithTimeout(ctx, bootstrapDirectoryTimeout)
		resp, err := n.dir.Bootstrap(dctx, maxBootstrapPeers)
		cancel()
		if err != nil {
			n.log.Warn("directory bootstrap list unavailable; using the host cache", "err", err)
		}
		for _, ni := range resp.Peers {
			id, err := peer.Decode(ni.PeerID)
			if err != nil {
				continue
			}
			ai := peer.AddrInfo{ID: id}
			for _, a := range ni.Addrs {
				if m, err := ma.NewMultiaddr(a); err == nil {
					ai.Addrs = append(ai.Addrs, m)
				}
			}
			if len(ai.Addrs) > 0 {
				all = append(all, ai)
			}
		}
	}
	all = append(all, n.cache.Peers(n.host.ID())...)
	seen := map[peer.ID]bool{n.host.ID(): true}
	var out []peer.AddrInfo
	for _, ai := range all {
		if seen[ai.ID] || len(out) == maxBootstrapPeers {
			continue
		}
		seen[ai.ID] = true
		out = append(out, ai)
	}
	return out
}

// connectBootstrap dials the bootstrap peers in parallel (bounded by
// bootstrapDialTimeout) and refreshes the DHT's routing table when any
// answered, so that presence can be published at once.
func (n *Node) connectBootstrap(ctx context.Context, peers []peer.AddrInfo) int {
	if len(peers) == 0 {
		return 0
	}
	dctx, cancel := context.WithTimeout(ctx, bootstrapDialTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for _, ai := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.host.Connect(dctx, ai); err != nil {
				n.log.Debug("bootstrap peer unreachable", "peer", ai.ID, "err", err)
				return
			}
			mu.Lock()
			ok++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if ok > 0 {
		select {
		case err := <-n.dht.ForceRefresh():
			if err != nil {
				n.log.Debug("DHT refresh", "err", err)
			}
		case <-dctx.Done():
		}
	}
	n.log.Info("joined the network", "bootstrap_peers", len(peers), "connected", ok)
	return ok
}
