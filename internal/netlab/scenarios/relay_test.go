package scenarios

import (
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
	bob := w.natClient("bob", netlab.SymmetricNAT, "bob")
	alice := w.natClient("alice", netlab.SymmetricNAT, "alice")
	sst := super.waitSuperNode()
	bob.waitCircuit()
	bob.waitPublished()

	c := alice.call(bob, "alice", false)
	if c.Route != "relay" || c.RelayPeerID != sst.PeerID {
		t.Errorf("route %q via %q; want relay via the super-node %s", c.Route, c.RelayPeerID, sst.PeerID)
	}
	checkHeard(t, "bob", bob.heard, "alice")
	checkHeard(t, "alice", c.heard, "bob")
	if st := super.status(); st.Relay.BytesRelayed == 0 {
		t.Errorf("the super-node relayed no bytes: %+v", st.Relay)
	}
	w.report("symmetric-nats", c)
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
