package scenarios

import (
	"strings"
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
	home := w.endRouter("home", netlab.ConeNAT)
	alice := w.user("alice", w.endHost("alice"), nil)
	bob := w.user("bob", w.lab.Host("bob", home.LAN()), nil)
	alice.run("alice")
	bob.run("bob")
	bob.waitPublished()

	c := alice.call(bob, "alice", false)
	if c.Route != "direct" || c.RelayPeerID != "" {
		t.Errorf("route %q via %q; want direct with no relay", c.Route, c.RelayPeerID)
	}
	w.report("cone-nat", c,
		checkHeard(t, "bob", bob.heard, "alice"),
		checkHeard(t, "alice", c.heard, "bob"))
}

// TestConeNATs is scenario 2 with both sides behind cone NATs: hole
// punching proper. The super-node on the internet (`run --relay on`) is
// there for what a NATed node cannot do alone: its TURN server answers the
// STUN requests from which each side learns its server-reflexive (mapped)
// address, and its circuit relay carries the signalling. ICE then punches
// through both NATs: the route is direct, between alice's host candidate
// (seen mapped by her NAT) and bob's mapped address on his router, and no
// relay takes part in the audio.
func TestConeNATs(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2)
	super := w.superNode("super", nil)
	// alice's node starts first: a node finds super-nodes ~30 s after it
	// starts, so the call below is placed by a caller that may know none
	// and must reach bob through the circuit address in his presence.
	alice := w.natClient("alice", netlab.ConeNAT, "alice")
	bob := w.natClient("bob", netlab.ConeNAT, "bob")
	super.waitSuperNode()
	bob.waitCircuit()
	bob.waitPublished()

	c := alice.call(bob, "alice", true)
	if c.code != 0 {
		if strings.Contains(c.stderr, "no super-node known to relay through") {
			t.Fatalf("alice could not reach bob through his circuit address (see TestSymmetricNATs): bob's node has its reservation and published its presence, yet alice's call found no /p2p-circuit address for him and knew no super-node (\"no super-node known to relay through\")\nstdout: %s\nstderr: %s\nalice's node:\n%s",
				c.stdout, c.stderr, tail(alice.node.Output(), 40))
		}
		t.Fatalf("alice calls bob: exit %d\nstdout: %s\nstderr: %s", c.code, c.stdout, c.stderr)
	}
	if c.Route != "direct" || c.RelayPeerID != "" {
		t.Errorf("route %q via %q; want direct (hole punched) with no relay", c.Route, c.RelayPeerID)
	}
	// The pair ICE chose ends at bob's mapping on his router's WAN
	// address (a server- or peer-reflexive candidate), not at his LAN
	// address, and alice sends from behind her own NAT: a punched hole.
	route := mediaRoute(alice.node.Output())
	t.Logf("alice's node: media route %s", route)
	remote := " <-> " + bob.router.Addr().String() + ":"
	if !strings.Contains(route, remote) || !(strings.HasSuffix(route, " srflx") || strings.HasSuffix(route, " prflx")) {
		t.Errorf("media route %q; want direct to a reflexive candidate on bob's NAT (%s)", route, bob.router.Addr())
	}
	w.report("cone-nats", c,
		checkHeard(t, "bob", bob.heard, "alice"),
		checkHeard(t, "alice", c.heard, "bob"))
}

// mediaRoute is the route of the last "call media started" line of a
// node's log ("LOCAL type <-> REMOTE type"), or "".
func mediaRoute(log string) string {
	i := strings.LastIndex(log, `msg="call media started"`)
	if i < 0 {
		return ""
	}
	_, rest, ok := strings.Cut(log[i:], `route="`)
	if !ok {
		return ""
	}
	route, _, _ := strings.Cut(rest, `"`)
	return route
}
