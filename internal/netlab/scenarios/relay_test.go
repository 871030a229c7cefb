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
	w.report("symmetric-nats", c)
}
