package netlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// nsPrefix starts the name of every namespace netlab creates.
const nsPrefix = "pcl-"

// cmdTimeout bounds every ip/iptables/tc command the lab runs.
const cmdTimeout = 20 * time.Second

// Lab is one test's network. Build it with New, then Internet, Host and
// Router; it is torn down when the test ends.
type Lab struct {
	t  testing.TB
	id string // random, 4 hex digits

	inetOnce sync.Mutex // serialises the creation of the internet segment

	mu     sync.Mutex
	names  map[string]bool
	inet   *Segment
	lans   int      // LAN segments handed out so far
	spaces []string // namespaces created, in order
	stages []*stage // impairment stages of shaped links
}

// New returns an empty lab for t and registers its teardown with t.Cleanup.
// It skips t when the process is not root or ip/iptables are missing.
func New(t testing.TB) *Lab {
	t.Helper()
	if msg := missing(); msg != "" {
		t.Skip(msg)
	}
	claimOwner(t)
	sweepStale(t)
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("netlab: random lab id: %v", err)
	}
	l := &Lab{t: t, id: hex.EncodeToString(b[:]), names: map[string]bool{}}
	t.Cleanup(l.close)
	return l
}

// missing says what netlab lacks on this machine, or "" when all is there.
func missing() string {
	if os.Geteuid() != 0 {
		return "netlab needs root (CAP_NET_ADMIN) to create network namespaces; run as root, as CI does"
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("netlab needs the %s command (Debian package %s); install it with scripts/deps.sh", tool, map[string]string{"ip": "iproute2", "iptables": "iptables"}[tool])
		}
	}
	return ""
}

var validName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,19}$`)

// claim checks a machine or segment name and reserves it in this lab.
func (l *Lab) claim(name string) {
	l.t.Helper()
	if !validName.MatchString(name) {
		l.t.Fatalf("netlab: name %q: use 1-20 lowercase letters, digits and '-', starting with a letter", name)
	}
	if name == "internet" {
		l.t.Fatalf("netlab: name %q is the internet segment's; call the machine something else", name)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.names[name] {
		l.t.Fatalf("netlab: name %q is used twice in this lab; give each machine its own name", name)
	}
	l.names[name] = true
}

// nsName is the namespace of a machine (or, with sw true, of a segment).
func (l *Lab) nsName(name string, sw bool) string {
	if sw {
		name = "sw." + name
	}
	return fmt.Sprintf("%s%s-%d-%s", nsPrefix, l.id, os.Getpid(), name)
}

// addNamespace creates a namespace with loopback up and IPv6 off (no router
// solicitations or link-local addresses to confuse ICE gathering).
func (l *Lab) addNamespace(ns string) {
	l.t.Helper()
	l.mustRun("ip", "netns", "add", ns)
	l.mu.Lock()
	l.spaces = append(l.spaces, ns)
	l.mu.Unlock()
	l.mustRun("ip", "-n", ns, "link", "set", "lo", "up")
	l.sysctl(ns, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
}

func (l *Lab) sysctl(ns string, settings ...string) {
	l.t.Helper()
	l.mustRun("ip", append([]string{"netns", "exec", ns, "sysctl", "-q", "-w"}, settings...)...)
}

// mustRun runs a command of the lab's plumbing and fails the test if it fails.
func (l *Lab) mustRun(name string, args ...string) {
	l.t.Helper()
	if out, err := run(name, args...); err != nil {
		l.t.Fatalf("netlab: %v", err)
	} else if out != "" {
		l.t.Logf("netlab: %s %s: %s", name, strings.Join(args, " "), out)
	}
}

// run runs one command with a time limit and returns its trimmed output; the
// error names the command and carries its output.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if err != nil {
		return text, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, text)
	}
	return text, nil
}

// Internet returns the lab's open internet segment, 198.18.0.0/24, creating
// it on first use.
func (l *Lab) Internet() *Segment {
	l.t.Helper()
	l.inetOnce.Lock()
	defer l.inetOnce.Unlock()
	l.mu.Lock()
	s := l.inet
	l.mu.Unlock()
	if s != nil {
		return s
	}
	s = l.newSegment("internet", netip.MustParsePrefix("198.18.0.0/24"), 2)
	l.mu.Lock()
	l.inet = s
	l.mu.Unlock()
	return s
}

// nextLAN hands out the prefix of the next router's LAN, 198.19.N.0/24.
func (l *Lab) nextLAN() netip.Prefix {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lans++
	if l.lans > 254 {
		l.t.Fatalf("netlab: more than 254 routers in one lab")
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(l.lans), 0}), 24)
}

// close stops the impairment stages (their TAP devices go with them),
// kills what runs in the lab's namespaces and deletes them, newest first.
// Deleting a namespace deletes its links and iptables rules.
func (l *Lab) close() {
	l.mu.Lock()
	spaces, stages := l.spaces, l.stages
	l.spaces, l.stages = nil, nil
	l.mu.Unlock()
	for _, st := range stages {
		st.close()
	}
	for i := len(spaces) - 1; i >= 0; i-- {
		if err := deleteNamespace(spaces[i]); err != nil {
			l.t.Errorf("netlab cleanup: %v", err)
		}
	}
}

// deleteNamespace SIGKILLs every process still in ns, then deletes it,
// trying a few times: a process just killed, or one starting in another
// mount namespace, can keep the name busy for a moment.
func deleteNamespace(ns string) error {
	var err error
	for try := 0; try < 5; try++ {
		if try > 0 {
			time.Sleep(time.Duration(try) * 100 * time.Millisecond)
		}
		killAll(ns)
		if _, err = run("ip", "netns", "del", ns); err == nil {
			return nil
		}
		if _, statErr := os.Stat(netnsDir + "/" + ns); os.IsNotExist(statErr) {
			return nil // gone after all
		}
	}
	return fmt.Errorf("delete namespace %s (delete it by hand with `ip netns del %s`): %w", ns, ns, err)
}
