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
	// starts, so the call below is placed by a caller that may know none
	// and must reach bob through the circuit address in his presence.
	alice := w.natClient("alice", netlab.SymmetricNAT, "alice")
	bob := w.natClient("bob", netlab.SymmetricNAT, "bob")
	sst := super.waitSuperNode()
	bob.waitCircuit()
	bob.waitPublished()

	c := alice.call(bob, "alice", true)
	if c.code != 0 {
		if strings.Contains(c.stderr, "no super-node known to relay through") {
			t.Fatalf("alice could not reach bob through his circuit address: bob's node has its circuit relay reservation (waitCircuit saw it) and published its presence, "+
				"yet alice's call found no /p2p-circuit address for him and her own node knew no super-node to try (\"no super-node known to relay through\"); "+
				"a node must republish its presence as soon as it gets a reservation\nstdout: %s\nstderr: %s\nalice's node:\n%s",
				c.stdout, c.stderr, tail(alice.node.Output(), 40))
		}
		t.Fatalf("alice calls bob: exit %d\nstdout: %s\nstderr: %s", c.code, c.stdout, c.stderr)
	}
	if c.Route != "relay" {
		t.Errorf("route %q; want relay", c.Route)
	}
	if st := super.status(); st.Relay.BytesRelayed == 0 {
		t.Errorf("the super-node relayed no bytes: %+v", st.Relay)
	}
	w.report("symmetric-nats", c,
		checkHeard(t, "bob", bob.heard, "alice"),
		checkHeard(t, "alice", c.heard, "bob"))
	t.Run("summary names the super-node", func(t *testing.T) {
		switch {
		case c.RelayPeerID == "" && c.Route == "relay":
			t.Errorf("relay_peer_id is empty in alice's summary of a relayed call; want the super-node %s (when ICE picks the callee's relay candidate, the caller names the super-node whose TURN server it is)", sst.PeerID)
		case c.RelayPeerID != sst.PeerID:
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
	if st := super.status(); st.Relay.BytesRelayed == 0 {
		t.Errorf("the super-node relayed no bytes: %+v", st.Relay)
	}
	w.report("forced-relay", c,
		checkHeard(t, "bob", bob.heard, "alice"),
		checkHeard(t, "alice", c.heard, "bob"))
}
