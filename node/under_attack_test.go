package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/peercall/peercall/relay/turncreds"

	"go.uber.org/goleak"

	"github.com/peercall/peercall/admission"
	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/internal/attacker"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/node"
	"github.com/peercall/peercall/presence"
	"github.com/peercall/peercall/reach"
	"github.com/peercall/peercall/signalling"
)

// attackSources are the attackers' loopback source addresses: each in a
// /24 of its own (127.0.0.0/8 is all loopback on Linux), none in
// 127.0.0.0/24 where the harness nodes are. Off loopback they stand for
// an attacker with a few addresses.
var attackSources = []string{"127.0.1.2", "127.0.2.2", "127.0.3.2", "127.0.4.2"}

// attackScale is the normal test's attack, or the full scale
// with PEERCALL_ATTACK=1.
type attackScale struct {
	streamIdentities, streamsEach, connIdentities, calls int
}

func scale() (attackScale, bool) {
	if os.Getenv("PEERCALL_ATTACK") != "" {
		return attackScale{streamIdentities: 20, streamsEach: 150, connIdentities: 1000, calls: 6}, true
	}
	return attackScale{streamIdentities: 10, streamsEach: 150, connIdentities: 150, calls: 2}, false
}

// callOnce rings callee from n and hangs up once audio flows; it returns
// the setup time or the error.
func callOnce(ctx context.Context, n *node.Node, callee string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	var setup time.Duration
	var once sync.Once
	res, err := n.Call(ctx, callee, call.Options{OnEvent: func(ev call.Event) {
		if ev.Kind == call.EventConnected {
			once.Do(func() {
				setup = time.Since(start)
				cancel()
			})
		}
	}})
	if setup > 0 {
		return setup, nil
	}
	if err == nil {
		err = fmt.Errorf("call ended (%v) before audio flowed", res.End)
	}
	return 0, err
}

// TestCallUnderAttack: while attackers without an account hold idle
// /peercall/signal/1 streams from many identities and flood bob with
// connections from many more, a certified caller (alice) still rings bob
// and connects, every time.
func TestCallUnderAttack(t *testing.T) {
	// Registered first, so it runs after the network is closed: the
	// attackers leave nothing behind to load the next tests.
	t.Cleanup(func() { goleak.VerifyNone(t) })
	sc, long := scale()
	nw := callharness.NewNetwork(t)
	au, bu := nw.User("alice"), nw.User("bob")
	ao, bo := callharness.NodeOptions(), callharness.NodeOptions()
	aa := &callharness.Audio{Send: callharness.Speech("alice", 1)}
	ba := &callharness.Audio{Send: callharness.Speech("bob", 1)}
	ao.Audio, bo.Audio, bo.AutoAnswer = aa.Opener(), ba.Opener(), true
	bob := nw.Start(bu, bo)
	alice := nw.Start(au, ao)
	callharness.WaitPresence(t, alice, bob)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	sa := attacker.Streams(ctx, attacker.StreamsConfig{Target: bob.AddrInfo(), Protocol: signalling.ProtocolID,
		Sources: attackSources, Identities: sc.streamIdentities, Streams: sc.streamsEach, MaxIdentities: 25 * sc.streamIdentities})
	flood := attacker.Conns(ctx, attacker.ConnsConfig{Target: bob.AddrInfo(), Sources: attackSources, Identities: sc.connIdentities})
	defer flood.Close()
	select {
	case <-flood.Dialled():
	case <-time.After(60 * time.Second):
		t.Fatal("the connection flood did not finish dialling in 60 s")
	}

	type result struct {
		SetupMs int64  `json:"setup_ms"`
		Err     string `json:"err,omitempty"`
	}
	var results []result
	connected := 0
	for i := range sc.calls {
		setup, err := callOnce(context.Background(), alice, "bob")
		r := result{SetupMs: setup.Milliseconds()}
		if err != nil {
			r.Err = err.Error()
			t.Errorf("call %d of %d under attack: %v", i+1, sc.calls, err)
		} else {
			connected++
		}
		results = append(results, r)
	}
	held := flood.Held(bob.PeerID())
	stop()
	streams := sa.Wait()
	refusals := refusalsOf(t, bob)
	figures := map[string]any{
		"calls_tried": sc.calls, "calls_connected": connected, "calls": results,
		"stream_attack": streams, "conn_flood": flood.Figures(), "flood_conns_held_at_end": held,
		"bob_refusals": refusals,
	}
	// The flood was capped, not served: at most MaxUncertified of its
	// identities were still connected, admission disconnected flooders
	// (evicted for a cap or, on a slow machine where the flood trickles
	// in, at the hello deadline), and refused streams (the guard, or the
	// resource manager's stream or memory limit of an uncertified peer).
	if max := admission.DefaultLimits().MaxUncertified; held > max {
		t.Errorf("%d flooding identities still connected to bob, want at most %d (admission's cap)", held, max)
	}
	if refusals[admission.ReasonUncertifiedFull]+refusals[admission.ReasonSubnetFull]+refusals[admission.ReasonHelloTimeout] == 0 || refusals[admission.ReasonSignalUncertified]+refusals[admission.ReasonLimitStream]+refusals[admission.ReasonLimitProtocol]+refusals[admission.ReasonLimitMemory] == 0 {
		t.Errorf("bob's refusals %v: want evictions of uncertified peers and refused signalling streams", refusals)
	}
	b, _ := json.Marshal(figures)
	if long {
		fmt.Println(string(b))
	} else {
		t.Logf("figures: %s", b)
	}
}

// refusalsOf reads n's peercall_admission_refusals_total by reason.
func refusalsOf(t *testing.T, n *node.Node) map[string]int {
	t.Helper()
	mfs, err := n.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, mf := range mfs {
		if mf.GetName() != "peercall_admission_refusals_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && m.GetCounter().GetValue() > 0 {
					out[l.GetValue()] = int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return out
}

// TestAdmissionProtocolIDs: admission's per-peer limits name the
// protocols the node really serves (it cannot import reach and presence,
// its own layer).
func TestAdmissionProtocolIDs(t *testing.T) {
	tests := []struct{ got, want string }{
		{string(admission.DialbackProtocol), reach.ProtocolID},
		{string(admission.KadProtocol), presence.DHTProtocolPrefix + "/kad/1.0.0"},
		{string(admission.SignalProtocol), signalling.ProtocolID},
		{string(admission.RelayProtocol), turncreds.ProtocolID},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("admission limits %s, the node serves %s", tc.got, tc.want)
		}
	}
}
