package scenarios

import "testing"

// TestDirectoryDown is scenario 6: alice and bob are logged in and their
// nodes run; the directory's machine then loses power. Each still finds the
// other in the DHT (presence records carry the directory certificates, which
// the nodes check against the pinned directory key) and calls, in both
// directions.
func TestDirectoryDown(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 6)
	alice := w.user("alice", w.lab.Host("alice", w.inet), nil)
	bob := w.user("bob", w.lab.Host("bob", w.inet), nil)
	alice.run("alice")
	bob.run("bob")
	alice.waitPublished()
	bob.waitPublished()

	if n := w.dirHost.Kill(); n == 0 {
		t.Fatal("no directory process was running to kill")
	}
	c := alice.call(bob, "alice", false)
	checkHeard(t, "bob", bob.heard, "alice")
	checkHeard(t, "alice", c.heard, "bob")
	w.report("directory-down", c)

	back := bob.call(alice, "bob", false)
	checkHeard(t, "alice", alice.heard, "bob")
	checkHeard(t, "bob", back.heard, "alice")
	w.report("directory-down-back", back)
}
