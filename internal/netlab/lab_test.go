package netlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestReachability checks the routing the package documents: the internet
// is flat, LANs reach it through their router (translated or not), and
// nothing unsolicited gets into a NAT's LAN.
func TestReachability(t *testing.T) {
	lab := New(t)
	inet := lab.Internet()
	a := lab.Host("a", inet)
	b := lab.Host("b", inet)
	home := lab.Router("home", inet, ConeNAT)
	alice := lab.Host("alice", home.LAN())
	office := lab.Router("office", inet, SymmetricNAT)
	bob := lab.Host("bob", office.LAN())
	campus := lab.Router("campus", inet, NoNAT)
	carol := lab.Host("carol", campus.LAN())

	for _, h := range []*Host{a, b, alice, bob, carol} {
		echo(t, h, []int{7000}, []int{7001})
	}

	tests := []struct {
		name     string
		from     *Host
		to       netip.Addr
		wantSeen netip.Addr // zero: must not get through
	}{
		{"internet to internet", a, b.Addr(), a.Addr()},
		{"internet to internet, back", b, a.Addr(), b.Addr()},
		{"cone LAN to internet is translated", alice, a.Addr(), home.Addr()},
		{"symmetric LAN to internet is translated", bob, a.Addr(), office.Addr()},
		{"routed LAN to internet keeps its address", carol, a.Addr(), carol.Addr()},
		{"internet to routed LAN", a, carol.Addr(), a.Addr()},
		{"cone LAN to routed LAN", alice, carol.Addr(), home.Addr()},
		{"internet to cone LAN address: no route", a, alice.Addr(), netip.Addr{}},
		{"internet to symmetric LAN address: no route", a, bob.Addr(), netip.Addr{}},
		{"internet to cone NAT's WAN: no port forwarding", a, home.Addr(), netip.Addr{}},
		{"routed LAN to cone LAN address: no route", carol, alice.Addr(), netip.Addr{}},
		{"cone LAN to symmetric LAN address", alice, bob.Addr(), netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // the refused cases wait for timeouts
			for _, proto := range []string{"udp", "tcp"} {
				var seen netip.AddrPort
				var err error
				if proto == "udp" {
					seen, err = askUDP(listenUDP(t, tt.from, 0), ap(tt.to, 7000), wait(tt.wantSeen.IsValid()))
				} else {
					seen, err = askTCP(tt.from, ap(tt.to, 7001), wait(tt.wantSeen.IsValid()))
				}
				switch {
				case !tt.wantSeen.IsValid() && err == nil:
					t.Errorf("%s from %s to %s got through (server saw %s); want it refused", proto, tt.from, tt.to, seen)
				case tt.wantSeen.IsValid() && err != nil:
					t.Errorf("%s from %s to %s: %v; want an answer", proto, tt.from, tt.to, err)
				case tt.wantSeen.IsValid() && seen.Addr() != tt.wantSeen:
					t.Errorf("%s from %s to %s: server saw %s, want source address %s", proto, tt.from, tt.to, seen, tt.wantSeen)
				}
			}
		})
	}
}

// TestAddressPlan checks addresses, routes and forwarding settings of each
// kind of machine.
func TestAddressPlan(t *testing.T) {
	lab := New(t)
	inet := lab.Internet()
	a := lab.Host("a", inet)
	home := lab.Router("home", inet, ConeNAT)
	alice := lab.Host("alice", home.LAN())
	campus := lab.Router("campus", inet, NoNAT)
	b := lab.Host("b", inet) // joins after campus: must still get its route

	tests := []struct {
		name    string
		got     netip.Addr
		want    string
		segment string
	}{
		{"a", a.Addr(), "198.18.0.2", "198.18.0.0/24"},
		{"home WAN", home.Addr(), "198.18.0.3", "198.18.0.0/24"},
		{"home LAN", home.LANAddr(), "198.19.1.1", "198.19.1.0/24"},
		{"alice", alice.Addr(), "198.19.1.2", "198.19.1.0/24"},
		{"campus LAN", campus.LANAddr(), "198.19.2.1", "198.19.2.0/24"},
		{"b", b.Addr(), "198.18.0.5", "198.18.0.0/24"},
	}
	for _, tt := range tests {
		if tt.got.String() != tt.want {
			t.Errorf("%s has address %s, want %s", tt.name, tt.got, tt.want)
		}
	}
	if got := home.LAN().Prefix().String(); got != "198.19.1.0/24" {
		t.Errorf("home LAN is %s, want 198.19.1.0/24", got)
	}

	routes := []struct {
		host *Host
		want []string // substrings of `ip route` output
		not  []string
	}{
		{alice, []string{"default via 198.19.1.1"}, nil},
		{home.Host, []string{"198.19.1.0/24 dev lan"}, []string{"default"}},
		{a, []string{"198.19.2.0/24 via 198.18.0.4"}, []string{"default", "198.19.1.0"}},
		{b, []string{"198.19.2.0/24 via 198.18.0.4"}, []string{"default", "198.19.1.0"}},
	}
	for _, r := range routes {
		out, err := run("ip", "-n", r.host.Namespace(), "route")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range r.want {
			if !strings.Contains(out, w) {
				t.Errorf("routes of %s lack %q:\n%s", r.host, w, out)
			}
		}
		for _, w := range r.not {
			if strings.Contains(out, w) {
				t.Errorf("routes of %s have %q, want none:\n%s", r.host, w, out)
			}
		}
	}

	forwarding := []struct {
		host *Host
		want string
	}{{a, "0"}, {alice, "0"}, {home.Host, "1"}, {campus.Host, "1"}}
	for _, f := range forwarding {
		out, err := run("ip", "netns", "exec", f.host.Namespace(), "sysctl", "-n", "net.ipv4.ip_forward")
		if err != nil {
			t.Fatal(err)
		}
		if out != f.want {
			t.Errorf("%s has ip_forward=%s, want %s", f.host, out, f.want)
		}
	}
	root, err := run("sysctl", "-n", "net.ipv4.ip_forward")
	if err == nil && root == "1" {
		t.Logf("note: the root namespace forwards (ip_forward=1); netlab did not set it")
	}
}

// TestRun checks that Run's function sees the machine's interfaces only.
func TestRun(t *testing.T) {
	lab := New(t)
	home := lab.Router("home", lab.Internet(), ConeNAT)
	alice := lab.Host("alice", home.LAN())

	addrs := func() (names []string) {
		ifs, _ := net.Interfaces()
		for _, i := range ifs {
			as, _ := i.Addrs()
			for _, a := range as {
				names = append(names, i.Name+"="+a.String())
			}
		}
		return names
	}
	for _, tt := range []struct {
		host *Host
		want []string
	}{
		{alice, []string{"lo=127.0.0.1/8", "eth0=198.19.1.2/24"}},
		{home.Host, []string{"lo=127.0.0.1/8", "wan=198.18.0.2/24", "lan=198.19.1.1/24"}},
	} {
		var got []string
		if err := tt.host.Run(func() error { got = addrs(); return nil }); err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("inside %s: interfaces %v, want %v", tt.host, got, tt.want)
		}
	}
	for _, a := range addrs() {
		if strings.Contains(a, "198.19.1.") {
			t.Errorf("the test's own namespace has %s: Run leaked its namespace", a)
		}
	}
}

// fatalTB records the first Fatalf/Skip instead of failing the real test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// stopsWith runs fn with a fatalTB in a goroutine of its own (Fatalf ends
// it) and returns the message it stopped with, "" if none.
func stopsWith(t *testing.T, fn func(tb testing.TB)) string {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.msg
}

// TestBadTopology checks that mistakes in a topology stop the test with a
// message naming the mistake.
func TestBadTopology(t *testing.T) {
	other := New(t)
	otherInet := other.Internet()
	tests := []struct {
		name  string
		build func(l *Lab)
		want  string
	}{
		{"upper case", func(l *Lab) { l.Host("Alice", l.Internet()) }, `name "Alice"`},
		{"space", func(l *Lab) { l.Host("a b", l.Internet()) }, `name "a b"`},
		{"too long", func(l *Lab) { l.Host("abcdefghijklmnopqrstu", l.Internet()) }, "1-20"},
		{"twice", func(l *Lab) { l.Host("a", l.Internet()); l.Host("a", l.Internet()) }, "used twice"},
		{"internet", func(l *Lab) { l.Host("internet", l.Internet()) }, "internet segment"},
		{"other lab's segment", func(l *Lab) { l.Host("a", otherInet) }, "same lab"},
		{"unknown NAT", func(l *Lab) { l.Router("r", l.Internet(), NAT(9)) }, "unknown NAT kind NAT(9)"},
		{"firewall rule without port", func(l *Lab) { l.Router("r", l.Internet(), NoNAT, Firewall(AllowOutTCP(0))) }, "tcp/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := stopsWith(t, func(tb testing.TB) { tt.build(New(tb)) })
			if !strings.Contains(msg, tt.want) {
				t.Errorf("building stopped with %q, want a message containing %q", msg, tt.want)
			}
		})
	}
}

// TestCommand runs programs in machines through Command, the main path for
// real binaries, and stops one gracefully through Start and Signal.
func TestCommand(t *testing.T) {
	lab := New(t)
	home := lab.Router("home", lab.Internet(), ConeNAT)
	alice := lab.Host("alice", home.LAN())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	out, err := alice.Command(ctx, "ip", "-4", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr in alice: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "198.19.1.2/24") {
		t.Errorf("alice's eth0 is %q, want 198.19.1.2/24", out)
	}

	p := echo(t, alice, []int{7000}, nil)
	if err := p.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Errorf("labecho after SIGINT: %v, want a clean exit; output:\n%s", err, p.Output())
	}
}

// TestSkipWithoutRoot runs this test binary as nobody and checks that New
// skips with the message the package promises.
func TestSkipWithoutRoot(t *testing.T) {
	if os.Getenv("NETLAB_AS_NOBODY") == "1" {
		New(t)
		t.Fatal("New did not skip without root")
	}
	if msg := missing(); msg != "" {
		t.Skip(msg)
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("this test needs setpriv (util-linux) to drop root")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", exe, "-test.run=^TestSkipWithoutRoot$", "-test.v")
	cmd.Env = append(os.Environ(), "NETLAB_AS_NOBODY=1")
	cmd.Dir = os.TempDir() // nobody may not read the package directory
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the test as nobody: %v\n%s", err, out)
	}
	want := "netlab needs root (CAP_NET_ADMIN) to create network namespaces; run as root, as CI does"
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), "--- SKIP") {
		t.Errorf("as nobody the test printed:\n%s\nwant a skip saying %q", out, want)
	}
}

// TestRunGoexit checks that t.Fatal inside Run's function does not hang Run.
func TestRunGoexit(t *testing.T) {
	lab := New(t)
	a := lab.Host("a", lab.Internet())
	err := a.Run(func() error { runtime.Goexit(); return nil })
	if err == nil || !strings.Contains(err.Error(), "did not return") {
		t.Errorf("Run after Goexit: %v, want an error saying the function did not return", err)
	}
	if err := a.Run(func() error { return os.ErrClosed }); err != os.ErrClosed {
		t.Errorf("Run returned %v, want fn's own error", err)
	}
}

// TestNestedRouters checks routers behind routers: a home NAT behind a
// carrier's NAT (double NAT), and a routed department LAN inside a routed
// campus, whose route must reach the internet through the campus router.
func TestNestedRouters(t *testing.T) {
	lab := New(t)
	inet := lab.Internet()
	a := lab.Host("a", inet)
	isp := lab.Router("isp", inet, SymmetricNAT)
	home := lab.Router("home", isp.LAN(), ConeNAT)
	dave := lab.Host("dave", home.LAN())
	campus := lab.Router("campus", inet, NoNAT)
	dept := lab.Router("dept", campus.LAN(), NoNAT)
	erin := lab.Host("erin", dept.LAN())
	for _, h := range []*Host{a, dave, erin} {
		echo(t, h, nil, []int{7001})
	}

	tests := []struct {
		name     string
		from     *Host
		to       netip.Addr
		wantSeen netip.Addr
	}{
		{"double NAT to internet shows the outer NAT", dave, a.Addr(), isp.Addr()},
		{"nested routed LAN to internet", erin, a.Addr(), erin.Addr()},
		{"internet to nested routed LAN", a, erin.Addr(), a.Addr()},
		{"nested routed LAN to double NAT's LAN: no route", erin, dave.Addr(), netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seen, err := askTCP(tt.from, ap(tt.to, 7001), wait(tt.wantSeen.IsValid()))
			switch {
			case !tt.wantSeen.IsValid() && err == nil:
				t.Errorf("%s to %s got through (seen as %s); want it refused", tt.from, tt.to, seen)
			case tt.wantSeen.IsValid() && err != nil:
				t.Errorf("%s to %s: %v", tt.from, tt.to, err)
			case tt.wantSeen.IsValid() && seen.Addr() != tt.wantSeen:
				t.Errorf("%s to %s: seen as %s, want %s", tt.from, tt.to, seen, tt.wantSeen)
			}
		})
	}
}
