package node_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/internal/testaudio"
	"github.com/peercall/peercall/internal/testutil"
	"github.com/peercall/peercall/node"
)

// moveListen moves n's libp2p listen addresses to new ports on ip: what a
// laptop sees when its network changes, on loopback (where a test cannot
// add interface addresses without root). The old listeners close, so
// libp2p reports the old addresses removed.
func moveListen(t *testing.T, n *node.Node, ip string) {
	t.Helper()
	nw := n.Host().Network()
	closer, ok := nw.(interface{ ListenClose(...ma.Multiaddr) })
	if !ok {
		t.Fatalf("the host's network %T cannot close listeners", nw)
	}
	var old []ma.Multiaddr
	for _, a := range nw.ListenAddresses() {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err != nil {
			old = append(old, a)
		}
	}
	// QUIC on port 0 would reuse the node's QUIC socket on ip: take a
	// free port of its own.
	pc, err := net.ListenPacket("udp4", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	if err := nw.Listen(ma.StringCast("/ip4/"+ip+"/tcp/0"), ma.StringCast(fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", ip, port))); err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	closer.ListenClose(old...)
	t.Logf("%s moved from %v to %v", n.Username(), old, nw.ListenAddresses())
}

// callEvents keeps the kinds of a node's call events.
type callEvents struct {
	mu    sync.Mutex
	kinds []call.EventKind
	at    map[call.EventKind]time.Time
}

func (e *callEvents) on(ev call.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.kinds = append(e.kinds, ev.Kind)
	if e.at == nil {
		e.at = map[call.EventKind]time.Time{}
	}
	if _, ok := e.at[ev.Kind]; !ok {
		e.at[ev.Kind] = time.Now()
	}
}

func (e *callEvents) when(k call.EventKind) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	at, ok := e.at[k]
	return at, ok
}

// TestCallFollowsANetworkChange: mid-call, alice's node moves to other
// addresses (new ports on 127.0.0.1). Her node restarts ICE from
// her side over signalling: bob's call shows reconnecting, then
// reconnected, never ends; alice's media path is on a new socket (no old
// candidate reused); bob hears her speech after the move; the
// directory lists her new addresses, and carol, a node started after the
// move, finds and calls her by name there.
func TestCallFollowsANetworkChange(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU, carolU := nw.User("alice"), nw.User("bob"), nw.User("carol")
	long := append(testaudio.MustSpeech("alice"), testaudio.MustSpeech("bob")...)
	ao := callharness.NodeOptions()
	ao.Media.ListenIPs = nil // follow the listen addresses, as a node from config.toml does
	ao.AutoAnswer = true
	ao.Audio = (&callharness.Audio{Send: long}).Opener()
	alice := nw.Start(aliceU, ao)
	var bobEv callEvents
	bobA := &callharness.Audio{Send: callharness.Speech("bob", 4)}
	bo := callharness.NodeOptions()
	bo.AutoAnswer = true
	bo.Audio = bobA.Opener()
	bo.OnCall = bobEv.on
	bob := nw.Start(bobU, bo)
	callharness.WaitPresence(t, alice)

	probe := testutil.StartSchedProbe(audio.Frame20ms)
	defer probe.Stop()
	ctx, hangup := context.WithCancel(callCtx(t))
	defer hangup()
	done := make(chan *call.Result, 1)
	go func() {
		res, err := alice.Call(ctx, "bob", call.Options{})
		if err != nil {
			t.Errorf("alice's call: %v", err)
		}
		done <- res
	}()
	waitActive(t, alice)
	connectedAt := time.Now()
	waitActive(t, bob)
	before := alice.Calls()[0]
	time.Sleep(2 * time.Second)

	stalls := watchStalls(bob)
	c := nw.Dir.Client(t)
	defer c.Close()
	movedAt := time.Now()
	oldAddrs := addrStrings(alice.Addrs())
	moveListen(t, alice, "127.0.0.1")
	waitFor(t, 10*time.Second, "bob's call never showed reconnecting", func() bool { _, ok := bobEv.when(call.EventReconnecting); return ok })
	waitFor(t, 10*time.Second, "bob's call never reconnected", func() bool { _, ok := bobEv.when(call.EventReconnected); return ok })
	recAt, _ := bobEv.when(call.EventReconnecting)
	backAt, _ := bobEv.when(call.EventReconnected)
	t.Logf("bob: reconnecting %v after the move, reconnected %v after it", recAt.Sub(movedAt).Round(time.Millisecond), backAt.Sub(movedAt).Round(time.Millisecond))
	listedIn := listed(t, c, "alice", alice)
	t.Logf("the directory lists alice's new addresses %v after the move (target: within 2 s)", listedIn.Round(time.Millisecond))
	time.Sleep(4 * time.Second)
	gap := stalls.longest()
	t.Logf("audio gap: bob received no packet for %v at most", gap.Round(time.Millisecond))

	after := alice.Calls()
	if len(after) != 1 || after[0].State != call.StateActive || after[0].CallID != before.CallID {
		t.Fatalf("alice's calls after the move %+v, want the same call active", after)
	}
	if after[0].LocalAddr == "" || after[0].LocalAddr == before.LocalAddr {
		t.Errorf("alice's media socket %q before the move, %q after: want a new one", before.LocalAddr, after[0].LocalAddr)
	}
	if bc := bob.Calls(); len(bc) != 1 || bc[0].State != call.StateActive {
		t.Fatalf("bob's calls after the move %+v, want it active", bc)
	}
	hangup()
	res := <-done
	if res == nil || !res.Connected || res.Summary.Reconnects == 0 {
		t.Fatalf("alice's call result %+v, want connected with a reconnect", res)
	}
	t.Logf("summary %+v", res.Summary)
	// bob heard what alice said before and after the move, per half
	// second; only a starved machine (the independent probe) excuses it.
	starved := probe.Stop() > testutil.StarvedAfter
	heard := bobA.Last().Samples()
	cut := int(movedAt.Sub(connectedAt).Seconds() * audio.SampleRate)
	afterFrom := cut + audio.SampleRate // a second after the move
	afterTo := min(afterFrom+3*audio.SampleRate, len(heard)-audio.SampleRate/2)
	for _, part := range []struct {
		what        string
		sent, heard []int16
	}{
		{"before the move", long[:cut], heard},
		{"after the move", long[afterFrom:afterTo], heard[max(0, afterFrom-audio.SampleRate/4):]},
	} {
		sim := callharness.SegmentSimilarity(part.sent, part.heard)
		t.Logf("%s: %.1f s of speech heard with similarity %.3f per half second", part.what, float64(len(part.sent))/audio.SampleRate, sim)
		if sim <= testaudio.Threshold && !starved {
			t.Errorf("%s: what bob heard is not what alice sent (similarity %.3f <= %.2f)", part.what, sim, testaudio.Threshold)
		}
	}
	if starved {
		t.Logf("the machine starved the scheduling probe (%v late): audio similarity is logged, not asserted", probe.Worst())
	}
	bobEv.mu.Lock()
	kinds := slices.Clone(bobEv.kinds)
	bobEv.mu.Unlock()
	if slices.Index(kinds, call.EventEnded) != len(kinds)-1 {
		t.Errorf("bob's call events %v: ended before the hang-up", kinds)
	}

	// A node that starts after the move finds alice at her new address.
	co := callharness.NodeOptions()
	co.Audio = (&callharness.Audio{Send: callharness.Speech("bob", 1)}).Opener()
	carol := nw.Start(carolU, co)
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := carol.Lookup(cctx, "alice")
	if err != nil {
		t.Fatalf("carol's lookup of alice: %v", err)
	}
	for _, a := range addrStrings(info.Addrs) {
		if slices.Contains(oldAddrs, a) {
			t.Errorf("carol finds alice at %v (from %s), including her old address %s", info.Addrs, info.Source, a)
		}
	}
	cres, err := carol.Call(cctx, "alice", call.Options{Duration: 300 * time.Millisecond})
	if err != nil || !cres.Connected {
		t.Fatalf("carol's call to alice at her new address: %+v, %v", cres, err)
	}
}

func addrStrings(addrs []ma.Multiaddr) []string {
	var out []string
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return out
}

// TestCallResumesAfterItsConnectionDies: alice's network changes and the
// libp2p connection that carries the call's signalling dies with it (as
// QUIC sent into a moment with no route does). Both sides hold the call;
// alice, who moved, resumes it over a new connection (signalling's
// RESUME) and restarts ICE on it; the call goes on with audio.
func TestCallResumesAfterItsConnectionDies(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU := nw.User("alice"), nw.User("bob")
	ao := callharness.NodeOptions()
	ao.Media.ListenIPs = nil
	ao.AutoAnswer = true
	ao.Audio = (&callharness.Audio{Send: callharness.Speech("alice", 12)}).Opener()
	alice := nw.Start(aliceU, ao)
	var bobEv callEvents
	bo := callharness.NodeOptions()
	bo.AutoAnswer = true
	bo.Audio = (&callharness.Audio{Send: callharness.Speech("bob", 4)}).Opener()
	bo.OnCall = bobEv.on
	bob := nw.Start(bobU, bo)
	callharness.WaitPresence(t, alice)

	ctx, hangup := context.WithCancel(callCtx(t))
	defer hangup()
	done := make(chan *call.Result, 1)
	go func() {
		res, err := alice.Call(ctx, "bob", call.Options{})
		if err != nil {
			t.Errorf("alice's call: %v", err)
		}
		done <- res
	}()
	waitActive(t, alice)
	waitActive(t, bob)
	before := alice.Calls()[0]
	time.Sleep(time.Second)

	moveListen(t, alice, "127.0.0.1")
	if err := alice.Host().Network().ClosePeer(bob.PeerID()); err != nil {
		t.Fatal(err)
	}
	cutAt := time.Now()
	waitFor(t, 10*time.Second, "bob's call never reconnected", func() bool {
		at, ok := bobEv.when(call.EventReconnected)
		return ok && at.After(cutAt)
	})
	t.Logf("bob's call reconnected %v after the connection died", time.Since(cutAt).Round(time.Millisecond))
	n := bob.Calls()[0].PacketsReceived
	waitFor(t, 5*time.Second, "bob received no audio after the resume", func() bool {
		bc := bob.Calls()
		return len(bc) == 1 && bc[0].PacketsReceived > n+25
	})
	after := alice.Calls()
	if len(after) != 1 || after[0].State != call.StateActive || after[0].CallID != before.CallID {
		t.Fatalf("alice's calls after the connection died %+v, want the same call active", after)
	}
	hangup()
	if res := <-done; res == nil || !res.Connected {
		t.Fatalf("alice's call result %+v, want connected", res)
	}
}
