package scenarios

import "testing"

// TestDirect is scenario 1: alice and bob both on the open internet
// segment; alice calls bob and the call goes direct, with each side
// hearing the other's speech.
func TestDirect(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1)
	bob := w.user("bob", w.endHost("bob"), nil)
	alice := w.user("alice", w.endHost("alice"), nil)
	bob.run("bob")
	bob.waitCheckedIn() // alice's node, started for the call, finds him there

	c := alice.call(bob, "alice", false)
	if c.Route != "direct" || c.RelayPeerID != "" {
		t.Errorf("route %q via %q; want direct with no relay", c.Route, c.RelayPeerID)
	}
	w.report("direct", c,
		checkHeard(t, "bob", bob.heard, "alice"),
		checkHeard(t, "alice", c.heard, "bob"))
}
