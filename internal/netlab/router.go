package netlab

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// NAT is the address translation a Router does between its LAN and WAN. The
// package documentation says exactly what Linux conntrack gives for each.
type NAT int

const (
	// NoNAT routes without translation; the LAN is announced to the WAN
	// segment, so its addresses are reachable from there.
	NoNAT NAT = iota
	// ConeNAT is iptables MASQUERADE: endpoint-independent mapping (the
	// source port is kept), address-and-port-dependent filtering.
	ConeNAT
	// SymmetricNAT is MASQUERADE --random-fully: each new destination gets a
	// new random source port; filtering as ConeNAT.
	SymmetricNAT
)

func (n NAT) String() string {
	switch n {
	case NoNAT:
		return "NoNAT"
	case ConeNAT:
		return "ConeNAT"
	case SymmetricNAT:
		return "SymmetricNAT"
	}
	return "NAT(" + strconv.Itoa(int(n)) + ")"
}

// A Router is a machine with a WAN interface on one segment and a LAN segment
// of its own behind it. Its embedded Host is its WAN side.
type Router struct {
	*Host
	nat     NAT
	lan     *Segment
	lanAddr netip.Addr
	rules   []FirewallRule // nil: no firewall

	udpTimeout time.Duration // 0: the kernel's
	shape      *Profile      // the WAN link's profile (WANLink); nil: none
}

// RouterOption changes how Lab.Router builds a router.
type RouterOption func(*Router)

// Firewall makes the router's forwarding default-deny: only LAN-to-WAN flows
// matching one of rules are let out, plus the replies of established flows.
// Firewall() with no rules lets nothing out.
func Firewall(rules ...FirewallRule) RouterOption {
	return func(r *Router) { r.rules = append([]FirewallRule{}, rules...) }
}

// MappingTimeout sets how long the router keeps an idle UDP mapping (its
// conntrack entry) instead of Linux's 30 s (120 s once traffic went both
// ways), so tests of keep-alives and of mappings expiring run in seconds. It
// is rounded up to whole seconds.
func MappingTimeout(d time.Duration) RouterOption {
	return func(r *Router) { r.udpTimeout = d }
}

// A FirewallRule lets one kind of LAN-to-WAN flow through a Firewall.
type FirewallRule struct {
	Proto string // "tcp" or "udp"
	Port  uint16 // destination port
}

// AllowOutTCP lets TCP connections to port out (and their replies in).
func AllowOutTCP(port uint16) FirewallRule { return FirewallRule{"tcp", port} }

// AllowOutUDP lets UDP flows to port out (and their replies in).
func AllowOutUDP(port uint16) FirewallRule { return FirewallRule{"udp", port} }

func (f FirewallRule) String() string { return fmt.Sprintf("%s/%d", f.Proto, f.Port) }

// Router adds a router called name with its WAN on segment wan, a new LAN
// segment 198.19.N.0/24 behind it (router at .1) and translation nat.
func (l *Lab) Router(name string, wan *Segment, nat NAT, opts ...RouterOption) *Router {
	l.t.Helper()
	if nat < NoNAT || nat > SymmetricNAT {
		l.t.Fatalf("netlab: router %q: unknown NAT kind %v", name, nat)
	}
	r := &Router{nat: nat}
	for _, o := range opts {
		o(r)
	}
	if r.udpTimeout < 0 {
		l.t.Fatalf("netlab: router %q: negative MappingTimeout %v", name, r.udpTimeout)
	}
	for _, rule := range r.rules {
		if (rule.Proto != "tcp" && rule.Proto != "udp") || rule.Port == 0 {
			l.t.Fatalf("netlab: router %q: firewall rule %v: want AllowOutTCP or AllowOutUDP with a port", name, rule)
		}
	}
	r.Host = l.machine(name, wan, "wan", r.shape)

	prefix := l.nextLAN()
	lan := &Segment{lab: l, name: name, ns: l.nsName(name, true), prefix: prefix, router: r, next: 1}
	l.addNamespace(lan.ns)
	l.mustRun("ip", "-n", lan.ns, "link", "add", "br0", "type", "bridge")
	l.mustRun("ip", "-n", lan.ns, "link", "set", "br0", "up")
	r.lan = lan
	addr, port := lan.allocate()
	r.lanAddr = addr
	lan.attach(r.ns, "lan", addr, port)
	l.sysctl(r.ns, "net.ipv4.ip_forward=1")
	if r.udpTimeout > 0 {
		sec := strconv.Itoa(int((r.udpTimeout + time.Second - 1) / time.Second))
		l.sysctl(r.ns, "net.netfilter.nf_conntrack_udp_timeout="+sec, "net.netfilter.nf_conntrack_udp_timeout_stream="+sec)
	}
	r.configureFilter()

	wan.join(r.Host)
	lan.join(r.Host)
	if nat == NoNAT {
		wan.announce(prefix, r.addr)
	}
	return r
}

// configureFilter writes the router's NAT and firewall rules into its own
// namespace's iptables.
func (r *Router) configureFilter() {
	l := r.lab
	l.t.Helper()
	ipt := func(args ...string) {
		l.t.Helper()
		l.mustRun("ip", append([]string{"netns", "exec", r.ns, "iptables", "-w", "5"}, args...)...)
	}
	switch r.nat {
	case ConeNAT:
		ipt("-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE")
	case SymmetricNAT:
		ipt("-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE", "--random-fully")
	}
	if r.nat != NoNAT {
		// A home router: nothing new comes in from the WAN side, neither
		// to the LAN nor to the router itself. The INPUT rule matters for
		// hole punching: a packet from a peer reaching the mapped port
		// before the LAN host has sent to that peer would otherwise be
		// delivered locally (and answered with ICMP port unreachable),
		// leaving a confirmed conntrack entry whose reply tuple clashes
		// with the LAN host's own packet to that peer, so MASQUERADE gives
		// the LAN host's packet a different port and the punch fails. A
		// packet dropped in INPUT never confirms its entry.
		ipt("-A", "INPUT", "-i", "wan", "!", "-p", "icmp", "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP")
	}
	if r.rules == nil && r.nat == NoNAT {
		return
	}
	ipt("-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
	if r.nat != NoNAT {
		ipt("-A", "FORWARD", "-i", "wan", "-o", "lan", "-j", "DROP")
	}
	if r.rules == nil {
		return
	}
	for _, rule := range r.rules {
		ipt("-A", "FORWARD", "-i", "lan", "-o", "wan", "-p", rule.Proto, "--dport", strconv.Itoa(int(rule.Port)), "-j", "ACCEPT")
	}
	ipt("-P", "FORWARD", "DROP")
}

// LAN is the segment behind the router; hosts on it route through the router.
func (r *Router) LAN() *Segment { return r.lan }

// LANAddr is the router's address on its LAN (198.19.N.1).
func (r *Router) LANAddr() netip.Addr { return r.lanAddr }

// NAT is the router's translation kind.
func (r *Router) NAT() NAT { return r.nat }
