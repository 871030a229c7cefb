package scenarios

import (
	"testing"

	"github.com/peercall/peercall/internal/netlab"
)

// TestConeNAT is scenario 2: bob is behind a cone NAT (MASQUERADE), alice
// on the open internet. bob's node joins the DHT through alice's (the
// directory's bootstrap list), so the signalling runs over the connection
// bob opened; ICE then finds a direct path through bob's NAT (bob's checks
// open the mapping; alice learns bob's mapped address as a
// peer-reflexive candidate). No relay takes part.
func TestConeNAT(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2)
	home := w.lab.Router("home", w.inet, netlab.ConeNAT)
	alice := w.user("alice", w.lab.Host("alice", w.inet), nil)
	bob := w.user("bob", w.lab.Host("bob", home.LAN()), nil)
	alice.run("alice")
	bob.run("bob")
	bob.waitPublished()

	c := alice.call(bob, "alice", false)
	if c.Route != "direct" || c.RelayPeerID != "" {
		t.Errorf("route %q via %q; want direct with no relay", c.Route, c.RelayPeerID)
	}
	checkHeard(t, "bob", bob.heard, "alice")
	checkHeard(t, "alice", c.heard, "bob")
	w.report("cone-nat", c)
}
