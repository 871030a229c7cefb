package netlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// namespaces lists the named network namespaces of this machine.
func namespaces(t *testing.T) map[string]bool {
	t.Helper()
	out, err := run("ip", "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			m[f[0]] = true
		}
	}
	return m
}

// TestCleanup builds a lab in a subtest, with a process still running in it,
// and checks that no namespace of it is left once the subtest is over.
func TestCleanup(t *testing.T) {
	if msg := missing(); msg != "" {
		t.Skip(msg)
	}
	before := namespaces(t)
	rootBefore := rootState(t)
	var made []string
	t.Run("lab", func(t *testing.T) {
		lab := New(t)
		inet := lab.Internet()
		lab.Host("a", inet)
		home := lab.Router("home", inet, SymmetricNAT, Firewall(AllowOutTCP(443)))
		alice := lab.Host("alice", home.LAN())
		echo(t, alice, []int{7000}, nil)
		// A process the test never stops or waits for.
		if err := alice.Command(context.Background(), "sleep", "60").Start(); err != nil {
			t.Fatal(err)
		}
		// Only this lab's: other packages' labs may run at the same time.
		own := fmt.Sprintf("%s%s-%d-", nsPrefix, lab.id, os.Getpid())
		for ns := range namespaces(t) {
			if !before[ns] && strings.HasPrefix(ns, own) {
				made = append(made, ns)
			}
		}
	})
	if len(made) != 5 {
		t.Errorf("the lab made namespaces %v, want 5 (a, home, alice, two segments)", made)
	}
	after := namespaces(t)
	for _, ns := range made {
		if after[ns] {
			t.Errorf("namespace %s is left after the test", ns)
		}
	}
	if got := rootState(t); got != rootBefore {
		t.Errorf("the root namespace changed:\nbefore:\n%s\nafter:\n%s", rootBefore, got)
	}
}

// rootState is what netlab must never touch in the root namespace: its
// links, routes, forwarding switch and iptables rules.
func rootState(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, c := range [][]string{
		{"ip", "-o", "link", "show"},
		{"ip", "route", "show"},
		{"sysctl", "net.ipv4.ip_forward"},
		{"iptables", "-w", "5", "-S"},
		{"iptables", "-w", "5", "-t", "nat", "-S"},
		{"iptables", "-w", "5", "-t", "mangle", "-S"},
	} {
		out, err := run(c[0], c[1:]...)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(out + "\n")
	}
	return b.String()
}

// TestSweepStale checks that New's sweep deletes namespaces of dead owners
// and keeps those of live ones, by owner lock and pid.
func TestSweepStale(t *testing.T) {
	if msg := missing(); msg != "" {
		t.Skip(msg)
	}
	claimOwner(t)
	dead, deadLocked, deadFree := deadPID(t, 0), deadPID(t, 1), deadPID(t, 2)
	// A live lock holder: this test, through a file of its own (flock
	// locks of two open files conflict even in one process).
	held, err := lockOwnFile(ownerLock(deadLocked))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(held.Name()); held.Close() })
	lockFile(t, deadFree) // a lock file its owner left when it died

	tests := []struct {
		name string
		keep bool
	}{
		{fmt.Sprintf("pcl-dead-%d-x", dead), false},         // no process, no lock file
		{fmt.Sprintf("pcl-deadfree-%d-x", deadFree), false}, // no process, lock free
		{fmt.Sprintf("pcl-held-%d-x", deadLocked), true},    // lock held: alive, whatever /proc says
		{fmt.Sprintf("pcl-live-%d-x", 1), true},             // pid 1 lives, no lock file
		{fmt.Sprintf("pcl-mine-%d-x", os.Getpid()), true},   // this process's own
		{"pcl-notours", true},                               // not netlab's pattern
	}
	for _, tt := range tests {
		if _, err := run("ip", "netns", "add", tt.name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { run("ip", "netns", "del", tt.name) })
	}

	// A pid reused: a process started after the namespace was made. With
	// its owner's lock file left free, the namespace is stale; without any
	// lock file the sweep cannot tell, and keeps it. Each namespace is made
	// under a name outside the pattern, then bound to its pcl-<id>-<pid>
	// name once the process with that pid has started.
	reused := []struct {
		tmp  string
		keep bool
		lock bool
	}{
		{fmt.Sprintf("pcl-tmp%d", os.Getpid()), false, true},
		{fmt.Sprintf("pcl-tmpnolock%d", os.Getpid()), true, false},
	}
	for _, r := range reused {
		if _, err := run("ip", "netns", "add", r.tmp); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { run("ip", "netns", "del", r.tmp) })
	}
	// Beyond the sweep's 1 s slack plus up to 1 s of error in a process's
	// start time: /proc/stat's btime is whole seconds, so a start computed
	// from it can be early by up to a second (0.68 s on one machine, where
	// a 1.5 s wait failed every run).
	time.Sleep(2500 * time.Millisecond)
	for _, r := range reused {
		later := exec.Command("sleep", "60")
		if err := later.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { later.Process.Kill(); later.Wait() })
		name := fmt.Sprintf("pcl-reused-%d-x", later.Process.Pid)
		if err := os.WriteFile(filepath.Join(netnsDir, name), nil, 0o444); err != nil {
			t.Fatal(err)
		}
		if _, err := run("mount", "--bind", filepath.Join(netnsDir, r.tmp), filepath.Join(netnsDir, name)); err != nil {
			os.Remove(filepath.Join(netnsDir, name))
			t.Fatal(err)
		}
		t.Cleanup(func() { run("ip", "netns", "del", name) })
		if r.lock {
			lockFile(t, later.Process.Pid)
		}
		tests = append(tests, struct {
			name string
			keep bool
		}{name, r.keep})
	}

	sweep(t)
	after := namespaces(t)
	for _, tt := range tests {
		if after[tt.name] != tt.keep {
			t.Errorf("after the sweep %s exists=%v, want %v", tt.name, after[tt.name], tt.keep)
		}
	}
	if _, err := os.Stat(ownerLock(os.Getpid())); err != nil {
		t.Errorf("the sweep touched this process's own lock: %v", err)
	}
	if _, err := os.Stat(ownerLock(deadLocked)); err != nil {
		t.Errorf("the sweep removed a held lock: %v", err)
	}
	if _, err := os.Stat(ownerLock(deadFree)); !os.IsNotExist(err) {
		t.Errorf("the sweep left the free lock of a dead owner with no namespace left: %v", err)
	}
}

// lockFile creates an unlocked owner lock file for pid, removed when the
// test ends.
func lockFile(t *testing.T, pid int) {
	t.Helper()
	if err := os.WriteFile(ownerLock(pid), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(ownerLock(pid)) })
}

// deadPID returns a pid no process has, the n-th found (0, 1, ...).
func deadPID(t *testing.T, n int) int {
	for pid := 4000000 - n*7919; pid > 3000000; pid -= 3 * 7919 {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			return pid
		}
	}
	t.Fatal("found no free pid")
	return 0
}

// TestKillAndLinkDown checks the failure tools: Kill ends what runs on a
// machine, SetDown cuts it off and SetUp brings it back with its routes.
func TestKillAndLinkDown(t *testing.T) {
	lab := New(t)
	inet := lab.Internet()
	s := lab.Host("s", inet)
	home := lab.Router("home", inet, ConeNAT)
	alice := lab.Host("alice", home.LAN())
	p := echo(t, s, []int{7000}, nil)

	c := listenUDP(t, alice, 0)
	if _, err := askUDP(c, ap(s.Addr(), 7000), answerWait); err != nil {
		t.Fatalf("before any failure: %v", err)
	}

	for _, m := range []*Host{alice, home.Host} {
		if err := m.SetDown(); err != nil {
			t.Fatal(err)
		}
		if _, err := askUDP(c, ap(s.Addr(), 7000), silenceWait); err == nil {
			t.Errorf("alice reached s with %s's link down", m.Name())
		}
		if err := m.SetUp(); err != nil {
			t.Fatal(err)
		}
		if _, err := askUDP(c, ap(s.Addr(), 7000), answerWait); err != nil {
			t.Errorf("alice cannot reach s after %s's link came back up: %v", m.Name(), err)
		}
	}

	if n := s.Kill(); n != 1 {
		t.Errorf("Kill on s killed %d processes, want 1 (labecho)", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Wait(ctx); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("labecho after Kill: %v, want killed", err)
	}
	if _, err := askUDP(c, ap(s.Addr(), 7000), silenceWait); err == nil {
		t.Errorf("s still answers after Kill")
	}
}

// TestParallelLabs builds two labs with the same machine names at the same
// time; each must see only its own network.
func TestParallelLabs(t *testing.T) {
	for _, name := range []string{"one", "two"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lab := New(t)
			inet := lab.Internet()
			s := lab.Host("s", inet)
			home := lab.Router("home", inet, ConeNAT)
			alice := lab.Host("alice", home.LAN())

			// Same names and addresses in both labs: each server must log
			// its own lab's alice, by StartCmd with a Dir of its own.
			bin := BuildBinary(t, echoPkg)
			cmd := s.Command(context.Background(), bin, "-tcp", ":7001", "-for", "1m")
			cmd.Dir = t.TempDir()
			p := s.StartCmd(cmd)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := p.WaitFor(ctx, "ready"); err != nil {
				t.Fatal(err)
			}
			seen, err := askTCP(alice, ap(s.Addr(), 7001), answerWait)
			if err != nil || seen.Addr() != home.Addr() {
				t.Fatalf("alice to s in lab %s: saw %v, %v; want %s", name, seen, err, home.Addr())
			}
			if err := p.WaitFor(ctx, "from "+home.Addr().String()); err != nil {
				t.Errorf("lab %s's server did not log alice's connection: %v", name, err)
			}
		})
	}
}
