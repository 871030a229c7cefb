package scenarios

import (
	"strings"
	"testing"

	"github.com/peercall/peercall/internal/netlab"
)

// TestSymmetricNATs is scenario 3: alice and bob are each behind a
// symmetric NAT, which hole punching cannot cross. A super-node on the
// internet (`run --relay on`) carries the signalling (circuit relay v2) and
// the audio (TURN); the call summary says route relay through it.
func TestSymmetricNATs(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3)
	super := w.superNode("super", nil)
	// alice's node starts first: a node finds super-nodes ~30 s after it
	// starts, and a caller that knows none cannot reach a callee whose
	// presence record predates its circuit reservation (pending in node).
	alice := w.natClient("alice", netlab.SymmetricNAT, "alice")
	bob := w.natClient("bob", netlab.SymmetricNAT, "bob")
	sst := super.waitSuperNode()
	bob.waitCircuit()
	bob.waitPublished()

	c := alice.call(bob, "alice", true)
	if c.code != 0 {
		if strings.Contains(c.stderr, "no super-node known to relay through") {
			pending(t, "needs a callee's circuit address to reach its callers at once: bob's node gets its circuit relay reservation ~30-40 s after it starts (the relay client's first lookup) and does not republish its presence then, "+
				"so alice finds a record without the /p2p-circuit address, and her own relay client, as young, knows no super-node to try (\"no super-node known to relay through\"); passes about one run in two")
		}
		t.Fatalf("alice calls bob: exit %d\nstdout: %s\nstderr: %s", c.code, c.stdout, c.stderr)
	}
	if c.Route != "relay" {
		t.Errorf("route %q; want relay", c.Route)
	}
	checkHeard(t, "bob", bob.heard, "alice")
	checkHeard(t, "alice", c.heard, "bob")
	if st := super.status(); st.Relay.BytesRelayed == 0 {
		t.Errorf("the super-node relayed no bytes: %+v", st.Relay)
	}
	w.report("symmetric-nats", c)
	t.Run("summary names the super-node", func(t *testing.T) {
		if c.RelayPeerID == "" && c.Route == "relay" {
			pending(t, "needs relay_peer_id in the caller's summary when ICE chose the callee's relay candidate (node.relayPeerID names only this side's TURN super-node; one relay is enough between two symmetric NATs, and ICE picked bob's): "+
				"the callee could name its relay in ACCEPT, or the caller map the remote relay address to the super-node whose TURN server it is")
		}
		if c.RelayPeerID != sst.PeerID {
			t.Errorf("relay_peer_id %q; want the super-node %s", c.RelayPeerID, sst.PeerID)
		}
	})
}

// TestForcedRelay is the part of scenario 3 that needs no circuit relay:
// bob behind a symmetric NAT, alice on the internet (bob's node joins the
// DHT through hers, so the signalling runs over the connection bob
// opened), and alice's `call --force-relay` sends the audio through the
// super-node's TURN server: the summary says route relay through it.
func TestForcedRelay(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3)
	super := w.superNode("super", nil)
	alice, bob := w.relayPair()
	sst := super.waitSuperNode()
	bob.waitPublished()

	c := alice.call(bob, "alice", false, "--force-relay")
	if c.Route != "relay" || c.RelayPeerID != sst.PeerID {
		t.Errorf("route %q via %q; want relay via the super-node %s", c.Route, c.RelayPeerID, sst.PeerID)
	}
	checkHeard(t, "bob", bob.heard, "alice")
	checkHeard(t, "alice", c.heard, "bob")
	if st := super.status(); st.Relay.BytesRelayed == 0 {
		t.Errorf("the super-node relayed no bytes: %+v", st.Relay)
	}
	w.report("forced-relay", c)
}
