package node_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/internal/testaudio"
	"github.com/peercall/peercall/node"
)

// stallWatch polls the packets bob's node received in its call every
// 10 ms and keeps the longest time they did not grow: the audio missing
// while the call moved from one relay to another.
type stallWatch struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	max  time.Duration
}

func watchStalls(n *node.Node) *stallWatch {
	w := &stallWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		var last uint64
		lastAt := time.Now()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case now := <-tick.C:
				for _, c := range n.Calls() {
					if c.PacketsReceived != last {
						last, lastAt = c.PacketsReceived, now
					} else if d := now.Sub(lastAt); d > 0 {
						w.mu.Lock()
						w.max = max(w.max, d)
						w.mu.Unlock()
					}
				}
			}
		}
	}()
	return w
}

func (w *stallWatch) longest() time.Duration {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.max
}

// heardPart checks that sent[from:to] (offsets in the sent speech) is in
// what rec played.
func heardPart(t *testing.T, what string, sent []int16, rec *callharness.Recorder, from, to time.Duration) {
	t.Helper()
	heard := rec.Samples()
	i, j := int(from.Seconds()*audio.SampleRate), min(len(sent), int(to.Seconds()*audio.SampleRate))
	if i >= j {
		t.Fatalf("%s: nothing to compare (%v..%v of %d samples)", what, from, to, len(sent))
	}
	// Each half second is looked for on its own, from 1 s before its
	// offset to 3 s after: after a failover the jitter buffer plays late
	// for a while and drains (time-stretching), which one lag over the
	// whole span would score as not heard. The speech-weighted mean counts.
	const seg = audio.SampleRate / 2
	var sum, weight float64
	for off := i; off+seg <= j; off += seg {
		var e float64
		for _, v := range sent[off : off+seg] {
			e += float64(v) * float64(v)
		}
		lo, hi := max(0, off-audio.SampleRate), min(len(heard), off+3*audio.SampleRate)
		if hi-lo < seg {
			continue
		}
		sc, _ := testaudio.Similarity(sent[off:off+seg], heard[lo:hi], hi-lo)
		sum, weight = sum+sc*e, weight+e
	}
	sim := 0.0
	if weight > 0 {
		sim = sum / weight
	}
	t.Logf("%s: speech sent %.1f..%.1f s heard with similarity %.3f (per half second)", what, from.Seconds(), to.Seconds(), sim)
	if sim <= testaudio.Threshold {
		t.Errorf("%s: the speech sent %.1f..%.1f s was not heard (similarity %.3f <= %.2f)", what, from.Seconds(), to.Seconds(), sim, testaudio.Threshold)
	}
}

// TestRelayFailoverCall: two super-nodes; alice calls bob with
// force-relay, and the super-node relaying her side is stopped mid-call.
// The call moves to the other super-node (new TURN credentials, ICE
// restart) and goes on: the speech before the stop and after the move is
// heard, the summary names the survivor, and the longest stretch bob
// received no packet (the failover gap) is logged.
func TestRelayFailoverCall(t *testing.T) {
	nw := callharness.NewNetwork(t)
	sam := startRelayNode(t, nw, relaySpec{name: "sam", cfg: superNode(10), ranges: loopbackRange})
	sue := startRelayNode(t, nw, relaySpec{name: "sue", cfg: superNode(10), ranges: loopbackRange})
	alice := startRelayNode(t, nw, relaySpec{name: "alice", cfg: clientNode()})
	bob := startRelayNode(t, nw, relaySpec{name: "bob", cfg: clientNode(), autoAnswer: true})
	long := append(testaudio.MustSpeech("alice"), testaudio.MustSpeech("bob")...)
	alice.a.Send = long
	waitFor(t, 20*time.Second, "sam and sue are not super-nodes", func() bool { return sam.m.Promoted() && sue.m.Promoted() })
	waitSuperNodes(t, alice, 2)
	waitSuperNodes(t, bob, 2)

	c := startCall(t, alice, "bob", true)
	waitActive(t, alice.n)
	connectedAt := time.Now()
	waitActive(t, bob.n)
	time.Sleep(3 * time.Second)
	// A relay-only call holds a standby allocation on the other
	// super-node: the victim is the one that relays the audio.
	victim, survivor := sam, sue
	if sue.m.RelayStats().BytesRelayed > sam.m.RelayStats().BytesRelayed {
		victim, survivor = sue, sam
	}
	stalls := watchStalls(bob.n)
	stopAt := time.Now()
	nw.Stop(victim.n) // drains relayed sessions for at most 2 s, then the TURN server closes
	stopped := time.Now()
	t.Logf("stopped %s (alice's relay) in %v", victim.u.Name, stopped.Sub(stopAt).Round(time.Millisecond))
	time.Sleep(9 * time.Second)
	gap := stalls.longest()
	c.end(t)
	if c.err != nil {
		t.Fatalf("the call failed: %v", c.err)
	}
	s := c.res.Summary
	t.Logf("summary %+v", s)
	t.Logf("failover gap: bob received no packet for %v at most", gap.Round(time.Millisecond))
	if s.Route != "relay" || s.RelayPeerID != survivor.n.PeerID().String() {
		t.Errorf("route %q via %q after the stop; want relay via %s (%s)", s.Route, s.RelayPeerID, survivor.u.Name, survivor.n.PeerID())
	}
	if !strings.HasPrefix(s.EndReason, "hung up") {
		t.Errorf("end_reason %q, want a plain hang-up", s.EndReason)
	}
	killOff := stopAt.Sub(connectedAt)
	before := callharness.SegmentSimilarity(long[:int(killOff.Seconds()*audio.SampleRate)], bob.a.Last().Samples())
	t.Logf("before the stop: similarity %.3f per segment", before)
	if before <= testaudio.Threshold {
		t.Errorf("before the stop: what bob heard is not what alice sent (similarity %.3f <= %.2f)", before, testaudio.Threshold)
	}
	after := stopped.Sub(connectedAt) + gap + time.Second
	heardPart(t, "after the move", long, bob.a.Last(), after, after+5*time.Second)
}

// TestRelayLostCall: with a single super-node, stopping it mid-call ends
// the call on both sides with EndRelayLost and a detail naming it.
func TestRelayLostCall(t *testing.T) {
	nw := callharness.NewNetwork(t)
	sam := startRelayNode(t, nw, relaySpec{name: "sam", cfg: superNode(10), ranges: loopbackRange})
	alice := startRelayNode(t, nw, relaySpec{name: "alice", cfg: clientNode()})
	bob := startRelayNode(t, nw, relaySpec{name: "bob", cfg: clientNode(), autoAnswer: true})
	waitFor(t, 20*time.Second, "sam is not a super-node", sam.m.Promoted)
	waitSuperNodes(t, alice, 1)

	c := startCall(t, alice, "bob", true)
	waitActive(t, alice.n)
	waitActive(t, bob.n)
	time.Sleep(time.Second)
	samID := sam.n.PeerID().String()
	nw.Stop(sam.n)
	stopped := time.Now()
	select {
	case <-c.done:
	case <-time.After(25 * time.Second):
		c.end(t)
		t.Fatal("the call went on 25 s after its only relay stopped")
	}
	t.Logf("the call ended %v after the relay stopped", time.Since(stopped).Round(time.Millisecond))
	if c.err != nil {
		t.Errorf("Call: %v", c.err)
	}
	waitNoCalls(t, bob.n)
	rc := bob.n.RecentCalls()
	if len(rc) == 0 {
		t.Fatal("bob remembers no call")
	}
	for who, res := range map[string]call.Result{"alice": *c.res, "bob": rc[len(rc)-1]} {
		t.Logf("%s: %s (%s); end_reason %q", who, res.End, res.Detail, res.Summary.EndReason)
		if res.End != "relay lost" || !strings.Contains(res.Detail, samID) || !strings.Contains(res.Detail, "no other super-node") || !strings.Contains(res.Summary.EndReason, "relay lost") {
			t.Errorf("%s's call ended with %q (%s); want relay lost naming super-node %s", who, res.End, res.Detail, samID)
		}
	}
}
