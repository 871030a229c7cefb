package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/pion/transport/v5"
)

// PeerKind names the class of a peer address the relay refuses to relay
// to, as counted in Stats.PeerForbidden and the
// peercall_relay_peer_forbidden_total{kind} metric.
type PeerKind string

// The kinds of forbidden peer addresses. The first four are never peers,
// whatever relay.allowed_peer_ranges says; the others are refused unless a
// range of relay.allowed_peer_ranges contains the address.
const (
	// 0.0.0.0 and ::.
	PeerUnspecified PeerKind = "unspecified"
	// 224.0.0.0/4 and ff00::/8.
	PeerMulticast PeerKind = "multicast"
	// 255.255.255.255 and the broadcast address of every IPv4 subnet of
	// the super-node's interfaces.
	PeerBroadcast PeerKind = "broadcast"
	// An address of the super-node itself (its interfaces, its listen and
	// public addresses). Its public (relayed) address is let through at
	// the permission stage so that two clients of one super-node can
	// relay to each other, but a datagram to or from it passes only when
	// its port is one of the relay's open allocations: never to the TURN
	// port, the node's own sockets or any other service of the host.
	PeerSelf PeerKind = "self"
	// 0.0.0.0/8 ("this network").
	PeerThisNetwork PeerKind = "this_network"
	// 127.0.0.0/8 and ::1.
	PeerLoopback PeerKind = "loopback"
	// RFC 1918 (10/8, 172.16/12, 192.168/16), fc00::/7 (ULA), fec0::/10
	// (site-local) and 64:ff9b:1::/48 (local-use NAT64).
	PeerPrivate PeerKind = "private"
	// 169.254.0.0/16 (including the 169.254.169.254 cloud metadata
	// service) and fe80::/10.
	PeerLinkLocal PeerKind = "link_local"
	// 100.64.0.0/10 (carrier-grade NAT, RFC 6598).
	PeerCGNAT PeerKind = "cgnat"
	// The other special-purpose ranges that are not globally reachable
	// (RFC 6890): 192.0.0.0/24, the documentation ranges, 198.18.0.0/15
	// (benchmarking, used by the network lab), 240.0.0.0/4, 100::/64,
	// 2001:db8::/32, 3fff::/20, ::/96.
	PeerReserved PeerKind = "reserved"
)

var peerKinds = []PeerKind{PeerUnspecified, PeerMulticast, PeerBroadcast, PeerSelf, PeerThisNetwork,
	PeerLoopback, PeerPrivate, PeerLinkLocal, PeerCGNAT, PeerReserved}

// maxAllowedPeerRanges bounds relay.allowed_peer_ranges.
const maxAllowedPeerRanges = 64

type kindRange struct {
	p    netip.Prefix
	kind PeerKind
}

// specialRanges are refused unless allowed (RFC 6890 and its updates).
var specialRanges = func() []kindRange {
	var out []kindRange
	for _, r := range []struct {
		cidr string
		kind PeerKind
	}{
		{"0.0.0.0/8", PeerThisNetwork},
		{"10.0.0.0/8", PeerPrivate},
		{"100.64.0.0/10", PeerCGNAT},
		{"127.0.0.0/8", PeerLoopback},
		{"169.254.0.0/16", PeerLinkLocal},
		{"172.16.0.0/12", PeerPrivate},
		{"192.0.0.0/24", PeerReserved},
		{"192.0.2.0/24", PeerReserved},
		{"192.88.99.0/24", PeerReserved},
		{"192.168.0.0/16", PeerPrivate},
		{"198.18.0.0/15", PeerReserved},
		{"198.51.100.0/24", PeerReserved},
		{"203.0.113.0/24", PeerReserved},
		{"240.0.0.0/4", PeerReserved},
		{"::1/128", PeerLoopback},
		{"::/96", PeerReserved},
		{"64:ff9b:1::/48", PeerPrivate},
		{"100::/64", PeerReserved},
		{"2001:db8::/32", PeerReserved},
		{"3fff::/20", PeerReserved},
		{"fc00::/7", PeerPrivate},
		{"fe80::/10", PeerLinkLocal},
		{"fec0::/10", PeerPrivate},
	} {
		out = append(out, kindRange{netip.MustParsePrefix(r.cidr), r.kind})
	}
	return out
}()

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
	limitedBC   = netip.AddrFrom4([4]byte{255, 255, 255, 255})
)

// PeerRanges is a list of CIDR ranges (relay.allowed_peer_ranges), a TOML
// array of strings. It is a comparable value, so Config stays comparable;
// Validate checks the ranges.
type PeerRanges struct {
	list string // the ranges joined by "\n"
}

// NewPeerRanges makes a list of ranges, for example from
// network.reachable_ranges.
func NewPeerRanges(cidrs ...string) PeerRanges { return PeerRanges{list: strings.Join(cidrs, "\n")} }

// Strings returns the ranges as given.
func (r PeerRanges) Strings() []string {
	if r.list == "" {
		return nil
	}
	return strings.Split(r.list, "\n")
}

// Len is the number of ranges.
func (r PeerRanges) Len() int { return len(r.Strings()) }

// String is for logs.
func (r PeerRanges) String() string { return "[" + strings.Join(r.Strings(), " ") + "]" }

// UnmarshalTOML decodes a TOML array of strings.
func (r *PeerRanges) UnmarshalTOML(v any) error {
	arr, ok := v.([]any)
	if !ok {
		return fmt.Errorf("want an array of CIDR strings, for example [\"198.18.0.0/15\"], not %T", v)
	}
	cidrs := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok || s == "" || strings.Contains(s, "\n") {
			return fmt.Errorf("%v is not a CIDR string", e)
		}
		cidrs = append(cidrs, s)
	}
	*r = NewPeerRanges(cidrs...)
	return nil
}

// MarshalTOML encodes a TOML array of strings.
func (r PeerRanges) MarshalTOML() ([]byte, error) {
	s := r.Strings()
	if s == nil {
		s = []string{}
	}
	return json.Marshal(s) // a JSON array of strings is a TOML inline array
}

// MarshalJSON is the same array, for status output.
func (r PeerRanges) MarshalJSON() ([]byte, error) { return r.MarshalTOML() }

// parsePeerRanges parses relay.allowed_peer_ranges: CIDR prefixes without
// host bits, at most maxAllowedPeerRanges.
func parsePeerRanges(key string, r PeerRanges) ([]netip.Prefix, error) {
	ranges := r.Strings()
	if len(ranges) > maxAllowedPeerRanges {
		return nil, fmt.Errorf("%s has %d ranges: use at most %d", key, len(ranges), maxAllowedPeerRanges)
	}
	out := make([]netip.Prefix, 0, len(ranges))
	var errs []error
	for _, s := range ranges {
		p, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %q is not a CIDR range (for example \"198.18.0.0/15\" or \"2001:db8::/32\")", key, s))
		case p != p.Masked():
			errs = append(errs, fmt.Errorf("%s: %q has host bits set: write %q", key, s, p.Masked().String()))
		default:
			out = append(out, p)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// peerFilter decides which peer addresses the relay sends to. It is built
// at each Start (the host's addresses can change between promotions) and
// read without locks afterwards.
type peerFilter struct {
	allowed   []netip.Prefix
	self      map[netip.Addr]bool // the super-node's own addresses
	relayIPs  map[netip.Addr]bool // own addresses that carry relayed transport addresses
	broadcast map[netip.Addr]bool
}

func toAddr(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}

// newPeerFilter collects the host's addresses from nw (interfaces and
// their IPv4 subnet broadcasts) plus the listen, public and extra own
// addresses.
func newPeerFilter(allowed []netip.Prefix, nw transport.Net, listen, public net.IP, own []net.IP) *peerFilter {
	f := &peerFilter{allowed: allowed, self: map[netip.Addr]bool{}, relayIPs: map[netip.Addr]bool{}, broadcast: map[netip.Addr]bool{limitedBC: true}}
	addSelf := func(ip net.IP) {
		if a, ok := toAddr(ip); ok && !a.IsUnspecified() {
			f.self[a] = true
		}
	}
	for _, ip := range append([]net.IP{listen, public}, own...) {
		addSelf(ip)
	}
	for _, ip := range []net.IP{listen, public} {
		if a, ok := toAddr(ip); ok && !a.IsUnspecified() {
			f.relayIPs[a] = true
		}
	}
	if nw != nil {
		ifs, _ := nw.Interfaces() // best effort: the listen and public addresses are known anyway
		for _, ifc := range ifs {
			addrs, err := ifc.Addrs()
			if err != nil {
				continue
			}
			for _, na := range addrs {
				ipn, ok := na.(*net.IPNet)
				if !ok {
					continue
				}
				addSelf(ipn.IP)
				if v4 := ipn.IP.To4(); v4 != nil && len(ipn.Mask) == net.IPv4len {
					if ones, _ := ipn.Mask.Size(); ones <= 30 {
						var b [4]byte
						for i := range b {
							b[i] = v4[i] | ^ipn.Mask[i]
						}
						f.broadcast[netip.AddrFrom4(b)] = true
					}
				}
			}
		}
	}
	return f
}

// permit classifies a peer IP for a permission (CreatePermission,
// ChannelBind): ok, or the kind that forbids it.
func (f *peerFilter) permit(ip net.IP) (PeerKind, bool) {
	a, ok := toAddr(ip)
	if !ok {
		return PeerUnspecified, false
	}
	return f.classify(a, true)
}

func (f *peerFilter) classify(a netip.Addr, outer bool) (PeerKind, bool) {
	// An IPv6 address that carries an IPv4 one (NAT64, 6to4) reaches
	// that IPv4 address: it must pass too.
	if outer && (nat64Prefix.Contains(a) || sixToFour.Contains(a)) {
		b := a.As16()
		var v4 [4]byte
		if nat64Prefix.Contains(a) {
			copy(v4[:], b[12:16])
		} else {
			copy(v4[:], b[2:6])
		}
		if kind, ok := f.classify(netip.AddrFrom4(v4), false); !ok {
			return kind, false
		}
	}
	switch {
	case a.IsUnspecified():
		return PeerUnspecified, false
	case a.IsMulticast():
		return PeerMulticast, false
	case f.broadcast[a]:
		return PeerBroadcast, false
	case f.self[a]:
		return PeerSelf, f.relayIPs[a] && outer
	}
	for _, p := range f.allowed {
		if p.Contains(a) {
			return "", true
		}
	}
	for _, r := range specialRanges {
		if r.p.Contains(a) {
			return r.kind, false
		}
	}
	return "", true
}

// isSelf reports whether addr is one of the super-node's own addresses
// (the data-path check: such a destination passes only on a relay port).
func (f *peerFilter) isSelf(addr net.Addr) (port int, self bool) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, false
	}
	a, ok := toAddr(ua.IP)
	return ua.Port, ok && f.self[a]
}

// relayPorts is the set of ports of open relay sockets: the only ports of
// the super-node's own addresses that relayed datagrams may reach.
type relayPorts struct {
	mu    sync.RWMutex
	ports map[int]int // port -> open sockets on it
}

func (p *relayPorts) add(port int) {
	p.mu.Lock()
	if p.ports == nil {
		p.ports = map[int]int{}
	}
	p.ports[port]++
	p.mu.Unlock()
}

func (p *relayPorts) remove(port int) {
	p.mu.Lock()
	if p.ports[port]--; p.ports[port] <= 0 {
		delete(p.ports, port)
	}
	p.mu.Unlock()
}

func (p *relayPorts) has(port int) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.ports[port] > 0
}
