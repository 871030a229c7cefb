package netlab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// A Host is a machine with one interface (eth0) on one segment. A Router is a
// Host too: its Addr, Command and Run work on its WAN side.
type Host struct {
	lab    *Lab
	name   string
	ns     string
	ifname string // eth0 for hosts, wan for routers
	port   string // the bridge port of ifname in seg's namespace
	addr   netip.Addr
	seg    *Segment
	shape  *Profile // the link's profile (Link, WANLink); nil: a plain veth
	stage  *stage   // the link's impairment stage, when shaped
}

// Host adds a machine called name to segment seg, with the segment's next
// address and, on a LAN, a default route through the LAN's router. With
// Link(p) its link goes through the impairment stage of profile p.
func (l *Lab) Host(name string, seg *Segment, opts ...LinkOption) *Host {
	l.t.Helper()
	var shape *Profile
	for _, o := range opts {
		if o.profile != nil {
			shape = o.profile
		}
	}
	h := l.machine(name, seg, "eth0", shape)
	seg.join(h)
	return h
}

// machine creates the namespace of a host or router and joins it to seg,
// through an impairment stage of profile shape unless it is nil.
func (l *Lab) machine(name string, seg *Segment, ifname string, shape *Profile) *Host {
	l.t.Helper()
	if seg == nil || seg.lab != l {
		l.t.Fatalf("netlab: machine %q: the segment must come from the same lab (lab.Internet() or router.LAN())", name)
	}
	l.claim(name)
	addr, port := seg.allocate()
	h := &Host{lab: l, name: name, ns: l.nsName(name, false), ifname: ifname, port: port, addr: addr, seg: seg, shape: shape}
	l.addNamespace(h.ns)
	if shape != nil {
		seg.attachShaped(h, *shape)
	} else {
		seg.attach(h.ns, ifname, addr, port)
	}
	if gw := seg.Gateway(); gw.IsValid() {
		l.mustRun("ip", "-n", h.ns, "route", "add", "default", "via", gw.String())
	}
	return h
}

// Name is the machine's name in the lab.
func (h *Host) Name() string { return h.name }

// Namespace is the name of the machine's network namespace, for
// `ip netns exec` by hand.
func (h *Host) Namespace() string { return h.ns }

// Addr is the machine's address on its segment (a router's WAN address).
func (h *Host) Addr() netip.Addr { return h.addr }

// Segment is the segment the machine is on (a router's WAN segment).
func (h *Host) Segment() *Segment { return h.seg }

// String names the machine and its address, for test logs.
func (h *Host) String() string { return fmt.Sprintf("%s(%s)", h.name, h.addr) }

// Command returns a command that runs name inside the machine's namespace
// (through `ip netns exec`). The process sees only the machine's interfaces;
// files and the environment are the test's own.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
}

// Run calls fn on an OS thread switched into the machine's namespace and
// returns its error. Sockets fn opens belong to the namespace for their whole
// life, so fn may hand them to other goroutines; but goroutines fn starts run
// in the test's own namespace, so open every socket inside fn. The thread is
// thrown away afterwards, never reused by other goroutines. fn must return:
// t.Fatal inside it ends only fn's goroutine, and Run reports that as an
// error.
func (h *Host) Run(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		returned := false
		defer func() {
			if !returned {
				errc <- fmt.Errorf("netlab: the function run on %s did not return (t.Fatal or runtime.Goexit inside Host.Run; use t.Error or return an error)", h.name)
			}
		}()
		// No UnlockOSThread: when this goroutine ends with the thread still
		// locked, the runtime terminates the thread instead of reusing it
		// in the wrong namespace.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + h.ns)
		if err != nil {
			returned = true
			errc <- fmt.Errorf("netlab: open namespace of %s: %w", h.name, err)
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			returned = true
			errc <- fmt.Errorf("netlab: enter namespace of %s: %w", h.name, err)
			return
		}
		err = fn()
		returned = true
		errc <- err
	}()
	return <-errc
}

// SetDown takes the machine's link down (its cable is pulled): packets to and
// from it are lost until SetUp.
func (h *Host) SetDown() error {
	if _, err := run("ip", "-n", h.ns, "link", "set", h.ifname, "down"); err != nil {
		return fmt.Errorf("netlab: take %s down: %w", h.name, err)
	}
	return nil
}

// SetUp brings the machine's link back after SetDown, with its address and
// routes (a link going down removes the routes through it, so they are
// restored here).
func (h *Host) SetUp() error {
	if _, err := run("ip", "-n", h.ns, "link", "set", h.ifname, "up"); err != nil {
		return fmt.Errorf("netlab: bring %s up: %w", h.name, err)
	}
	if gw := h.seg.Gateway(); gw.IsValid() {
		if _, err := run("ip", "-n", h.ns, "route", "replace", "default", "via", gw.String()); err != nil {
			return fmt.Errorf("netlab: restore default route of %s: %w", h.name, err)
		}
	}
	h.lab.mu.Lock()
	routes := append([]route(nil), h.seg.routes...)
	h.lab.mu.Unlock()
	for _, r := range routes {
		if r.via == h.addr {
			continue
		}
		if _, err := run("ip", "-n", h.ns, "route", "replace", r.prefix.String(), "via", r.via.String()); err != nil {
			return fmt.Errorf("netlab: restore route of %s to %s: %w", h.name, r.prefix, err)
		}
	}
	return nil
}

// Kill SIGKILLs every process running in the machine's namespace, as if it
// lost power; the namespace and its network stay, so processes can be started
// again. It returns how many processes it killed.
func (h *Host) Kill() int {
	return killAll(h.ns)
}

// killAll SIGKILLs the processes in namespace ns and returns their number.
func killAll(ns string) int {
	out, err := run("ip", "netns", "pids", ns)
	if err != nil {
		return 0
	}
	n := 0
	for _, f := range strings.Fields(out) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}
