package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/internal/callharness"
)

// TestCLIHold: on a live call between two running nodes, alice runs
// `peercall hold`: bob's `status` and `status --json` say "held by peer"
// and no packet goes either way; `peercall resume --json` prints the call.
// `mute`/`unmute` show on the other side too; bad arguments are usage
// errors, and with no call the node says so. What is heard while held and
// after is node's TestCallHoldAndMute: this test is the CLI's plumbing.
func TestCLIHold(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU := nw.User("alice"), nw.User("bob")
	aliceA := &callharness.LoopAudio{Send: callharness.Speech("alice", 6)}
	bobA := &callharness.LoopAudio{Send: callharness.Speech("bob", 6)}
	o := callharness.NodeOptions()
	o.Audio = aliceA.Opener()
	alice := nw.Start(aliceU, o)
	o = callharness.NodeOptions()
	o.Audio, o.AutoAnswer = bobA.Opener(), true
	bob := nw.Start(bobU, o)
	callharness.WaitPresence(t, alice, bob)

	if r := runHome(t, aliceU.Home, "hold"); r.code != exitFailure || !strings.Contains(r.stderr, "no such call") {
		t.Errorf("hold with no call: exit %d, stderr %q; want 1 and no such call", r.code, r.stderr)
	}
	done := make(chan error, 1)
	go func() {
		_, err := alice.Call(t.Context(), "bob", call.Options{})
		done <- err
	}()
	bobCall := func() call.Info {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if cs := bob.Calls(); len(cs) == 1 && cs[0].State == call.StateActive && cs[0].PacketsReceived > 0 {
				return cs[0]
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("bob's call did not become active")
		return call.Info{}
	}
	bc := bobCall()
	time.Sleep(300 * time.Millisecond)
	// The estimated MOS and its inputs, live in status --json.
	r := runHome(t, bobU.Home, "status", "--json")
	var raw struct {
		Calls []map[string]any `json:"calls"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil || len(raw.Calls) != 1 {
		t.Fatalf("bob's status --json: %v, %s", err, r.stdout)
	}
	q, _ := raw.Calls[0]["quality"].(map[string]any)
	if mos, _ := raw.Calls[0]["mos"].(float64); mos < 4 || q == nil {
		t.Errorf("bob's status --json on a clean loopback call: mos %v, quality %v; want mos >= 4 and its inputs", raw.Calls[0]["mos"], q)
	}
	for _, k := range []string{"mos", "r", "one_way_delay_ms", "loss", "burst_ratio", "late", "codec", "ie", "bpl", "jitter_ms"} {
		if _, ok := q[k]; !ok {
			t.Errorf("status --json quality lacks %q: %v", k, q)
		}
	}

	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"hold", "nothex"}, exitUsage},
		{[]string{"hold", bc.CallID, bc.CallID}, exitUsage},
		{[]string{"mute", strings.ToUpper(bc.CallID)}, exitUsage},
		{[]string{"resume", "--loud"}, exitUsage},
	} {
		if r := runHome(t, aliceU.Home, tc.args...); r.code != tc.want {
			t.Errorf("%v: exit %d (stderr %q), want %d", tc.args, r.code, r.stderr, tc.want)
		}
	}

	r = runHome(t, aliceU.Home, "hold", bc.CallID)
	if r.code != exitOK || !strings.Contains(r.stdout, "held: call "+bc.CallID+" with bob: held") {
		t.Fatalf("hold: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runHome(t, bobU.Home, "status", "--json")
	var st struct {
		Calls []call.Info `json:"calls"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st.Calls) != 1 {
		t.Fatalf("bob's status --json: %v, %s", err, r.stdout)
	}
	if c := st.Calls[0]; !c.PeerHeld || c.Audio != "held by peer" || c.Held {
		t.Errorf("bob's status --json while alice holds: %+v, want peer_held and audio \"held by peer\"", c)
	}
	if !strings.Contains(r.stdout, `"peer_held": true`) && !strings.Contains(r.stdout, `"peer_held":true`) {
		t.Errorf("bob's status --json lacks peer_held: %s", r.stdout)
	}
	if r := runHome(t, bobU.Home, "status"); !strings.Contains(r.stdout, "held by peer") {
		t.Errorf("bob's status while alice holds: %s", r.stdout)
	}
	time.Sleep(200 * time.Millisecond)
	pa, pb := alice.Calls()[0].PacketsSent, bob.Calls()[0].PacketsSent
	time.Sleep(1200 * time.Millisecond)
	if a2, b2 := alice.Calls()[0].PacketsSent, bob.Calls()[0].PacketsSent; a2 != pa || b2 != pb {
		t.Errorf("packets sent during the hold: alice %d, bob %d; want none", a2-pa, b2-pb)
	}

	r = runHome(t, aliceU.Home, "resume", "--json")
	var ci call.Info
	if err := json.Unmarshal([]byte(r.stdout), &ci); r.code != exitOK || err != nil || ci.Held || ci.CallID != bc.CallID {
		t.Fatalf("resume --json: exit %d, %q (%v), stderr %q", r.code, r.stdout, err, r.stderr)
	}
	for deadline := time.Now().Add(10 * time.Second); strings.Contains(runHome(t, bobU.Home, "status").stdout, "held by peer"); {
		if time.Now().After(deadline) {
			t.Fatal("bob's status still says held by peer 10 s after alice resumed")
		}
		time.Sleep(50 * time.Millisecond)
	}

	if r := runHome(t, bobU.Home, "mute"); r.code != exitOK || !strings.Contains(r.stdout, "muted: call") {
		t.Fatalf("bob mute: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(runHome(t, aliceU.Home, "status").stdout, "muted by peer") {
		if time.Now().After(deadline) {
			t.Fatal("alice's status never said muted by peer")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := runHome(t, bobU.Home, "unmute"); r.code != exitOK || !strings.Contains(r.stdout, "audio flows") {
		t.Errorf("bob unmute: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	if r := runHome(t, aliceU.Home, "hangup"); r.code != exitOK {
		t.Fatalf("hangup: exit %d, %s", r.code, r.stderr)
	}
	if err := <-done; err != nil {
		t.Fatalf("call: %v", err)
	}
}
