package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/node"
)

// TestCallWithDirectoryDown: once the directory is stopped, calls by name
// still work through the DHT and the certificates in presence records; and
// a node restarted while the directory is down rejoins through its host
// cache (its config names no bootstrap peer) and calls again.
func TestCallWithDirectoryDown(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU, carolU := nw.User("alice"), nw.User("bob"), nw.User("carol")
	opts := func(auto bool) node.Options {
		o := callharness.NodeOptions()
		o.Audio = (&callharness.Audio{Send: callharness.Speech("bob", 1)}).Opener()
		o.AutoAnswer = auto
		return o
	}
	alice := nw.Start(aliceU, opts(false))
	nw.Start(bobU, opts(true))
	nw.Start(carolU, opts(true))
	callharness.WaitPresence(t, alice)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	call := func(n *node.Node) {
		t.Helper()
		res, err := n.Call(ctx, "bob", call.Options{Duration: 300 * time.Millisecond})
		if err != nil || !res.Connected || res.Summary.PacketsReceived == 0 {
			t.Fatalf("%s calls bob: %+v, %v", n.Username(), res, err)
		}
	}
	call(alice)
	nw.Dir.Stop()
	call(alice)

	// Restart alice with no configured bootstrap peer: the directory is
	// down, so only the host cache (saved at Close) can bring her back.
	nw.Stop(alice)
	aliceU.SetBootstrap(t)
	alice2, err := node.New(ctx, aliceU.Home, opts(false))
	if err != nil {
		t.Fatalf("restart alice with the directory down: %v", err)
	}
	defer alice2.Close()
	callharness.WaitPresence(t, alice2)
	call(alice2)
}
