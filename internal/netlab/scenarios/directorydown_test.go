package scenarios

import (
	"context"
	"os"
	"testing"
)

// TestDirectoryDown is scenario 6: alice and bob are logged in and their
// nodes run; the directory's machine then loses power and its link. Each still finds the
// other in the DHT (presence records carry the directory certificates, which
// the nodes check against the pinned directory key) and calls, in both
// directions. Then alice stops her node and calls with `call` alone: the
// node it starts for the call joins the DHT through its host cache (the
// directory's bootstrap list is gone) and finds bob there.
func TestDirectoryDown(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 6)
	alice := w.user("alice", w.endHost("alice"), nil)
	bob := w.user("bob", w.endHost("bob"), nil)
	alice.run("alice")
	bob.run("bob")
	alice.waitPublished()
	bob.waitPublished()

	// Down as a dead machine is: the process gone and the cable pulled, so
	// connections time out instead of being refused.
	if n := w.dirHost.Kill(); n == 0 {
		t.Fatal("no directory process was running to kill")
	}
	if err := w.dirHost.SetDown(); err != nil {
		t.Fatal(err)
	}
	c := alice.call(bob, "alice", false)
	w.report("directory-down", c,
		checkHeard(t, "bob", bob.heard, "alice"),
		checkHeard(t, "alice", c.heard, "bob"))

	back := bob.call(alice, "bob", false)
	w.report("directory-down-back", back,
		checkHeard(t, "alice", alice.heard, "bob"),
		checkHeard(t, "bob", back.heard, "alice"))

	ctx, cancel := context.WithTimeout(t.Context(), startWait)
	defer cancel()
	if err := alice.node.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := alice.node.Wait(ctx); err != nil {
		t.Fatalf("alice's node did not stop cleanly on Ctrl-C: %v\n%s", err, alice.node.Output())
	}
	own := alice.call(bob, "alice", false)
	w.report("directory-down-own-node", own,
		checkHeard(t, "bob", bob.heard, "alice"),
		checkHeard(t, "alice", own.heard, "bob"))
}
