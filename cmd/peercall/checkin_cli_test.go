package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/internal/callharness"
)

// runProc is `peercall run` as its own process (the test binary, see
// TestMain).
type runProc struct {
	cmd       *exec.Cmd
	out, errb lockedBuffer
	done      chan error
}

// startRun starts `peercall --home HM run ARGS` as a process; it is
// stopped (SIGINT, then killed after 20 s) when the test ends.
func startRun(t *testing.T, hm *home.Home, env []string, args ...string) *runProc {
	t.Helper()
	p := &runProc{done: make(chan error, 1)}
	p.cmd = exec.Command(os.Args[0], append([]string{"--home", hm.Dir(), "run"}, args...)...)
	p.cmd.Env = append(append(os.Environ(), "PEERCALL_TEST_MAIN=1"), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errb
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop interrupts the process (a clean shutdown) and waits for it.
func (p *runProc) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("peercall run did not stop within 20 s of SIGINT\nstderr %s", p.errb.String())
	}
}

// freePort is a port free for TCP and UDP on 127.0.0.1, other than 7070.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		l.Close()
		if err == nil {
			u.Close()
			if port != 7070 {
				return port
			}
		}
	}
	t.Fatal("no port free for both TCP and UDP in 20 tries")
	return 0
}

// waitListed waits (at most 20 s) until the directory lists one node of
// user with an address on port, and returns how long that took.
func waitListed(t *testing.T, c *directory.Client, user string, port int, p *runProc) time.Duration {
	t.Helper()
	start := time.Now()
	want := fmt.Sprintf("/tcp/%d", port)
	var last []directory.NodeInfo
	for time.Since(start) < 20*time.Second {
		if u, err := c.User(t.Context(), user); err == nil {
			last = u.Nodes
			for _, n := range u.Nodes {
				for _, a := range n.Addrs {
					if strings.HasSuffix(a, want) {
						return time.Since(start)
					}
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("after 20 s the directory lists %s at %+v, want port %d\nnode's stderr %s", user, last, port, p.errb.String())
	return 0
}

// callOnce runs alice's `peercall call NAME --json` as a process.
func callOnce(t *testing.T, hm *home.Home, name string, extra ...string) call.Summary {
	t.Helper()
	args := append([]string{"call", name, "--duration", "1s", "--audio-in", "silence", "--audio-out", "null", "--json"}, extra...)
	r := runProcess(t, hm, args...)
	var sum call.Summary
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &sum) != nil {
		t.Fatalf("call %s: exit %d\nstdout %s\nstderr %s", name, r.code, r.stdout, r.stderr)
	}
	return sum
}

// TestCLICallableAfterLoginOnAnyPort is the scenario of a new user: bob
// logs in, then runs his node on a port of his choosing (not 7070, not in
// config.toml); alice, with no node running, calls him by name through
// the directory's listing of his check-in. Bob restarts on another port
// and alice calls him there. A super-node started on a non-default port
// is found for a forced-relay call.
func TestCLICallableAfterLoginOnAnyPort(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU, samU := nw.User("alice"), nw.User("bob"), nw.User("sam")
	c := nw.Dir.Client(t)
	defer c.Close()
	// bob logs in as a user would (the harness logged him in already:
	// this is a second machine login with the same key).
	login := exec.Command(os.Args[0], "--home", bobU.Home.Dir(), "login", "bob", "--password-stdin")
	login.Env = append(os.Environ(), "PEERCALL_TEST_MAIN=1")
	login.Stdin = strings.NewReader(callharness.Password + "\n")
	if out, err := login.CombinedOutput(); err != nil {
		t.Fatalf("peercall login bob: %v\n%s", err, out)
	}
	if u, err := c.User(t.Context(), "bob"); err != nil || len(u.Nodes) != 0 {
		t.Fatalf("after login and before run the directory lists bob at %+v, %v; want nowhere (login says nothing of where a node runs)", u.Nodes, err)
	}
	runArgs := func(port int, extra ...string) []string {
		return append([]string{"--auto-answer", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--relay", "off", "--audio-in", "silence", "--audio-out", "null"}, extra...)
	}
	port := freePort(t)
	bob := startRun(t, bobU.Home, nil, runArgs(port)...)
	t.Logf("bob's node on port %d listed %v after its process started", port, waitListed(t, c, "bob", port, bob))
	if sum := callOnce(t, aliceU.Home, "bob"); sum.PacketsReceived == 0 {
		t.Fatalf("alice's call to bob on port %d: %+v", port, sum)
	}

	bob.stop(t)
	if u, err := c.User(t.Context(), "bob"); err != nil || len(u.Nodes) != 0 {
		t.Errorf("after bob's node stopped the directory lists %+v, %v; want no node (withdrawn)", u.Nodes, err)
	}
	port2 := freePort(t)
	bob = startRun(t, bobU.Home, nil, runArgs(port2)...)
	t.Logf("bob's node restarted on port %d listed %v after its process started", port2, waitListed(t, c, "bob", port2, bob))
	if sum := callOnce(t, aliceU.Home, "bob"); sum.PacketsReceived == 0 {
		t.Fatalf("alice's call to bob restarted on port %d: %+v", port2, sum)
	}

	// sam, a super-node on a port of his own.
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
	samPort := freePort(t)
	sam := startRun(t, samU.Home, []string{"PEERCALL_TEST_SAME_HOST=1"},
		"--listen", fmt.Sprintf("127.0.0.1:%d", samPort), "--relay", "on", "--audio-in", "silence", "--audio-out", "null", "--policy", "/nonexistent")
	waitListed(t, c, "sam", samPort, sam)
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := runHome(t, samU.Home, "status", "--json")
		var st map[string]any
		if r.code == exitOK && json.Unmarshal([]byte(r.stdout), &st) == nil && st["role"] == "super-node" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sam is not a super-node after 60 s: %s\nstderr %s", r.stdout, sam.errb.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var sum call.Summary
	for {
		// Bob's node learns of the super-node from the DHT; alice's call
		// needs a relay both sides can use.
		r := runProcess(t, aliceU.Home, "call", "bob", "--force-relay", "--duration", "1s", "--audio-in", "silence", "--audio-out", "null", "--json")
		if r.code == exitOK && json.Unmarshal([]byte(r.stdout), &sum) == nil && sum.PacketsReceived > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("alice's forced-relay call to bob: exit %d\nstdout %s\nstderr %s\nsam's stderr %s", r.code, r.stdout, r.stderr, sam.errb.String())
		}
		time.Sleep(time.Second)
	}
	if sum.Route != "relay" || sum.PacketsReceived == 0 {
		t.Errorf("forced-relay call: %+v, want route relay with audio", sum)
	}
}
