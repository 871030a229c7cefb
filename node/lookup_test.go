package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/presence"
)

// TestLookupFallbacks: bob's presence never reaches the DHT (his node
// started alone and retries only hourly), so alice finds him through the
// directory (his certificate and the addresses of his login); with the
// directory down too, through the certificate she cached when she called
// him. Each time the call goes through.
func TestLookupFallbacks(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU := nw.User("alice"), nw.User("bob")
	bo := callharness.NodeOptions()
	bo.PresenceRetry = time.Hour
	bo.PresenceTTL = 3 * time.Hour
	bo.AutoAnswer = true
	bo.Audio = (&callharness.Audio{Send: callharness.Speech("bob", 1)}).Opener()
	bob := nw.Start(bobU, bo)
	var addrs []string
	for _, a := range bob.Addrs() {
		addrs = append(addrs, a.String())
	}
	bobU.Login(t, nw.Dir, addrs...)

	// alice has no bootstrap peer of her own: the directory's list (bob's
	// login) brings her in.
	o := callharness.NodeOptions()
	o.Audio = (&callharness.Audio{Send: callharness.Speech("alice", 1)}).Opener()
	alice := nw.StartWith(aliceU, o, nil)
	callharness.WaitPresence(t, alice)
	if len(alice.Host().Network().Peers()) == 0 {
		t.Fatal("alice joined no peer through the directory's bootstrap list")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	for _, want := range []presence.Source{presence.SourceDirectory, presence.SourceCache} {
		if want == presence.SourceCache {
			nw.Dir.Stop()
		}
		info, err := alice.Lookup(ctx, "bob")
		if err != nil {
			t.Fatalf("lookup bob (want from the %s): %v", want, err)
		}
		if info.Source != want || info.PeerID != bob.PeerID() {
			t.Errorf("lookup bob: source %q peer %s, want source %q peer %s", info.Source, info.PeerID, want, bob.PeerID())
		}
		res, err := alice.Call(ctx, "bob", call.Options{Duration: 300 * time.Millisecond})
		if err != nil || !res.Connected {
			t.Fatalf("call bob found in the %s: %+v, %v", want, res, err)
		}
	}
}
