package netlab

import (
	"net"
	"net/netip"
	"strings"
	"testing"
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
					seen, err = askUDP(listenUDP(t, tt.from, 0), ap(tt.to, 7000))
				} else {
					seen, err = askTCP(tt.from, ap(tt.to, 7001))
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
