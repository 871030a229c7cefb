package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/node"
	"github.com/peercall/peercall/presence"
)

// startAutoDHTNode starts name's node with network.dht_mode = "auto": it
// serves the DHT while its dial-back proves it reachable (ranges: the
// network.reachable_ranges that count; nil: loopback does not).
func startAutoDHTNode(t *testing.T, nw *callharness.Network, name string, relayCfg home.RelayConfig, ranges []string) *node.Node {
	t.Helper()
	u := nw.User(name)
	cfg, err := u.Home.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Network.DHTMode = string(presence.DHTModeAuto)
	cfg.Network.ReachableRanges = ranges
	if err := u.Home.SaveConfig(cfg); err != nil {
		t.Fatal(err)
	}
	o := callharness.NodeOptions()
	o.Relay = testRelayOptions(t, relayCfg, "")
	return nw.Start(u, o)
}

// servesDHT reports whether n answers the DHT protocol (server mode).
func servesDHT(n *node.Node) bool {
	return slices.Contains(n.Host().Mux().Protocols(), protocol.ID(presence.DHTProtocolPrefix+"/kad/1.0.0"))
}

// TestSmallNetworkDHT: four nodes with dht_mode auto on loopback: sam, a
// super-node, and rita, reachable but not relaying, serve the DHT; carl
// and alice, unreachable, only query it. With the directory down (no
// fallback), every node's presence is stored in the DHT and found there
// by the others.
func TestSmallNetworkDHT(t *testing.T) {
	nw := callharness.NewNetwork(t)
	sam := startAutoDHTNode(t, nw, "sam", superNode(10), loopbackRange)
	norelay := clientNode()
	norelay.Mode = "off"
	rita := startAutoDHTNode(t, nw, "rita", norelay, loopbackRange)
	carl := startAutoDHTNode(t, nw, "carl", clientNode(), nil)
	alice := startAutoDHTNode(t, nw, "alice", clientNode(), nil)
	all := []*node.Node{sam, rita, carl, alice}
	waitFor(t, 20*time.Second, "sam and rita do not serve the DHT", func() bool { return servesDHT(sam) && servesDHT(rita) })
	for _, n := range []*node.Node{carl, alice} {
		if servesDHT(n) {
			t.Errorf("%s (unreachable) serves the DHT, want a client", n.Username())
		}
	}
	callharness.WaitPresence(t, all...)
	nw.Dir.Stop() // no directory to fall back on
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, from := range all {
		for _, to := range all {
			if from == to {
				continue
			}
			info, err := from.Lookup(ctx, to.Username())
			if err != nil {
				t.Errorf("%s looks up %s: %v", from.Username(), to.Username(), err)
				continue
			}
			if info.Source != presence.SourceDHT || info.PeerID != to.PeerID() {
				t.Errorf("%s finds %s as %s from %s, want %s from the DHT", from.Username(), to.Username(), info.PeerID, info.Source, to.PeerID())
			}
		}
	}
}
