package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/node"
	"github.com/peercall/peercall/presence"
)

// listed waits (at most 10 s) until the directory lists exactly n's
// addresses for its user (or, with n nil, no node), and returns how long
// that took.
func listed(t *testing.T, c *directory.Client, user string, n *node.Node) time.Duration {
	t.Helper()
	start := time.Now()
	var last []directory.NodeInfo
	for time.Since(start) < 10*time.Second {
		u, err := c.User(t.Context(), user)
		if err == nil {
			last = u.Nodes
			if n == nil && len(u.Nodes) == 0 {
				return time.Since(start)
			}
			if n != nil && len(u.Nodes) == 1 && u.Nodes[0].PeerID == n.PeerID().String() {
				var want []string
				for _, a := range n.Addrs() {
					want = append(want, a.String())
				}
				got := slices.Clone(u.Nodes[0].Addrs)
				slices.Sort(got)
				slices.Sort(want)
				if slices.Equal(got, slices.Compact(want)) {
					return time.Since(start)
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("after 10 s the directory lists %s's nodes as %+v", user, last)
	return 0
}

// TestCheckinFollowsTheNode: a node checks in at start with the addresses
// it listens on (here a port it picked itself), a clean Close withdraws
// it, and after a restart on another port the directory lists the new
// addresses, through which a caller with no DHT record of bob calls him.
func TestCheckinFollowsTheNode(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU := nw.User("alice"), nw.User("bob")
	c := nw.Dir.Client(t)
	defer c.Close()
	bo := callharness.NodeOptions()
	bo.PresenceRetry = time.Hour // bob's presence never reaches the DHT
	bo.PresenceTTL = 3 * time.Hour
	bo.AutoAnswer = true
	bo.Audio = (&callharness.Audio{Send: callharness.Speech("bob", 1)}).Opener()
	bob := nw.StartWith(bobU, bo, nil)
	t.Logf("listed %v after bob's start", listed(t, c, "bob", bob))
	if st := bob.CheckinStatus(); st.Err != nil || st.Last.IsZero() || !st.Expires.After(time.Now()) {
		t.Errorf("bob's check-in status %+v, want accepted and unexpired", st)
	}
	oldAddrs := bob.Addrs()
	nw.Stop(bob)
	if u, err := c.User(t.Context(), "bob"); err != nil || len(u.Nodes) != 0 {
		t.Fatalf("after bob's clean shutdown the directory lists %+v, %v; want no node", u.Nodes, err)
	}
	bob = nw.StartWith(bobU, bo, nil)
	if slices.EqualFunc(bob.Addrs(), oldAddrs, func(a, b ma.Multiaddr) bool { return a.Equal(b) }) {
		t.Fatalf("bob restarted on the same addresses %v", oldAddrs)
	}
	t.Logf("listed %v after bob's restart on another port", listed(t, c, "bob", bob))

	o := callharness.NodeOptions()
	o.Audio = (&callharness.Audio{Send: callharness.Speech("alice", 1)}).Opener()
	alice := nw.StartWith(aliceU, o, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	info, err := alice.Lookup(ctx, "bob")
	if err != nil || info.Source != presence.SourceDirectory || info.PeerID != bob.PeerID() {
		t.Fatalf("alice's lookup of bob: %+v, %v; want bob's new node from the directory", info, err)
	}
	res, err := alice.Call(ctx, "bob", call.Options{Duration: 300 * time.Millisecond})
	if err != nil || !res.Connected {
		t.Fatalf("call bob at his new port: %+v, %v", res, err)
	}
}
