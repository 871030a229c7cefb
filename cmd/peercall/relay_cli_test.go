package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/internal/callharness"
)

// TestCLIRelay runs a super-node with `peercall run --relay on --metrics
// ADDR --policy PATH` (127/8 counted reachable, TURN on free ports), and
// alice's `call bob --force-relay --json` goes through it: the summary
// names it, its `status --json` counts the relayed bytes and /metrics
// serves the relay counters. A bad --relay value is a usage error.
func TestCLIRelay(t *testing.T) {
	nw := callharness.NewNetwork(t)
	samU, aliceU, bobU := nw.User("sam"), nw.User("alice"), nw.User("bob")
	o := callharness.NodeOptions()
	o.AutoAnswer = true
	o.Audio = (&callharness.Audio{Send: callharness.Speech("bob", 1)}).Opener()
	bob := nw.Start(bobU, o)

	samU.SetBootstrap(t, bob.AddrInfo())
	cfg, err := samU.Home.Config()
	if err != nil {
		t.Fatal(err)
	}
	rc := home.DefaultRelayConfig()
	rc.TURNPort, rc.RelayPortMin, rc.RelayPortMax = 0, 0, 0
	cfg.Relay = &rc
	cfg.Network.ReachableRanges = []string{"127.0.0.0/8"}
	if err := samU.Home.SaveConfig(cfg); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := l.Addr().String()
	l.Close()
	policy := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(policy, []byte("[relay]\nmax_sessions = 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	if r := runHome(t, samU.Home, "run", "--relay", "sometimes"); r.code != exitUsage {
		t.Errorf("run --relay sometimes: exit %d, want %d (usage)", r.code, exitUsage)
	}

	// The machine's real load (other tests) must not keep sam a client.
	cpuLoadHook = func() float64 { return 0 }
	sameHostPeersHook = true // every node of the test is on 127.0.0.1
	defer func() { cpuLoadHook, sameHostPeersHook = nil, false }()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		e := newEnv(strings.NewReader(""), &out, &errb)
		done <- run(ctx, e, []string{"--home", samU.Home.Dir(), "run", "--relay", "on", "--metrics", metricsAddr,
			"--policy", policy, "--audio-in", "silence", "--audio-out", "null"})
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if code := <-done; code != exitOK {
				t.Errorf("run exited %d\nstdout %s\nstderr %s", code, out.String(), errb.String())
			}
		}
	}
	defer stop()

	status := func() map[string]any {
		r := runHome(t, samU.Home, "status", "--json")
		var st map[string]any
		if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &st) != nil {
			return nil
		}
		return st
	}
	deadline := time.Now().Add(30 * time.Second)
	var st map[string]any
	for st = status(); st == nil || st["role"] != "super-node"; st = status() {
		if time.Now().After(deadline) {
			t.Fatalf("sam is not a super-node after 30 s: status %v\nstdout %s\nstderr %s", st, out.String(), errb.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	samID, _ := st["peer_id"].(string)
	if lim, _ := st["relay"].(map[string]any)["limits"].(map[string]any); lim["max_sessions"] != float64(7) {
		t.Errorf("the policy's max_sessions 7 is not applied: limits %v", lim)
	}

	aliceU.SetBootstrap(t, bob.AddrInfo())
	wav, _ := writeSpeech(t, 1.5)
	r := runHome(t, aliceU.Home, "call", "bob", "--force-relay", "--duration", "2s", "--audio-in", "wav:"+wav, "--audio-out", "null", "--json")
	if r.code != exitOK {
		t.Fatalf("call --force-relay: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	var sum call.Summary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("call --json output %q: %v", r.stdout, err)
	}
	if sum.Route != "relay" || sum.RelayPeerID != samID || sum.PacketsReceived == 0 {
		t.Errorf("summary %+v; want route relay via sam %s", sum, samID)
	}
	st = status()
	if rs, _ := st["relay"].(map[string]any); rs == nil || rs["bytes_relayed"].(float64) == 0 {
		t.Errorf("sam's status after relaying a call: %v; want bytes_relayed > 0", st["relay"])
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	for _, want := range []string{"peercall_relay_bytes_relayed_total", "peercall_node_super_node 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	stop()
	if _, err := net.DialTimeout("tcp", metricsAddr, time.Second); err == nil {
		t.Error("the metrics server still answers after run stopped")
	}
}
