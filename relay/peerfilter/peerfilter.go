package peerfilter

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/pion/transport/v5"
)

// Kind names the class of a peer address a relay refuses to relay to, as
// counted in relay.Stats.PeerForbidden and the
// peercall_relay_peer_forbidden_total{kind} metric.
type Kind string

// The kinds of forbidden peer addresses. The first four are never peers,
// whatever relay.allowed_peer_ranges says; the others are refused unless a
// range of relay.allowed_peer_ranges contains the address.
const (
	// 0.0.0.0 and ::.
	Unspecified Kind = "unspecified"
	// 224.0.0.0/4 and ff00::/8.
	Multicast Kind = "multicast"
	// 255.255.255.255 and the broadcast address of every IPv4 subnet of
	// the super-node's interfaces.
	Broadcast Kind = "broadcast"
	// An address of the super-node itself (its interfaces, its listen and
	// public addresses). Its public (relayed) address is let through at
	// the permission stage so that two clients of one super-node can
	// relay to each other, but a datagram to or from it passes only when
	// its port is one of the relay's open allocations: never to the TURN
	// port, the node's own sockets or any other service of the host.
	Self Kind = "self"
	// 0.0.0.0/8 ("this network").
	ThisNetwork Kind = "this_network"
	// 127.0.0.0/8 and ::1.
	Loopback Kind = "loopback"
	// RFC 1918 (10/8, 172.16/12, 192.168/16), fc00::/7 (ULA), fec0::/10
	// (site-local) and 64:ff9b:1::/48 (local-use NAT64).
	Private Kind = "private"
	// 169.254.0.0/16 (including the 169.254.169.254 cloud metadata
	// service) and fe80::/10.
	LinkLocal Kind = "link_local"
	// 100.64.0.0/10 (carrier-grade NAT, RFC 6598).
	CGNAT Kind = "cgnat"
	// The other special-purpose ranges that are not globally reachable
	// (RFC 6890): 192.0.0.0/24, the documentation ranges, 198.18.0.0/15
	// (benchmarking, used by the network lab), 240.0.0.0/4, 100::/64,
	// 2001:db8::/32, 3fff::/20, ::/96.
	Reserved Kind = "reserved"
)

// Kinds lists every kind, for metrics that show each from the start.
func Kinds() []Kind { return append([]Kind(nil), kinds...) }

var kinds = []Kind{Unspecified, Multicast, Broadcast, Self, ThisNetwork,
	Loopback, Private, LinkLocal, CGNAT, Reserved}

// MaxRanges bounds relay.allowed_peer_ranges.
const MaxRanges = 64

type kindRange struct {
	p    netip.Prefix
	kind Kind
}

// specialRanges are refused unless allowed (RFC 6890 and its updates).
var specialRanges = func() []kindRange {
	var out []kindRange
	for _, r := range []struct {
		cidr string
		kind Kind
	}{
		{"0.0.0.0/8", ThisNetwork},
		{"10.0.0.0/8", Private},
		{"100.64.0.0/10", CGNAT},
		{"127.0.0.0/8", Loopback},
		{"169.254.0.0/16", LinkLocal},
		{"172.16.0.0/12", Private},
		{"192.0.0.0/24", Reserved},
		{"192.0.2.0/24", Reserved},
		{"192.88.99.0/24", Reserved},
		{"192.168.0.0/16", Private},
		{"198.18.0.0/15", Reserved},
		{"198.51.100.0/24", Reserved},
		{"203.0.113.0/24", Reserved},
		{"240.0.0.0/4", Reserved},
		{"::1/128", Loopback},
		{"::/96", Reserved},
		{"64:ff9b:1::/48", Private},
		{"100::/64", Reserved},
		{"2001:db8::/32", Reserved},
		{"3fff::/20", Reserved},
		{"fc00::/7", Private},
		{"fe80::/10", LinkLocal},
		{"fec0::/10", Private},
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

// Ranges is a list of CIDR ranges (relay.allowed_peer_ranges), a TOML
// array of strings. It is a comparable value, so Config stays comparable;
// Validate checks the ranges.
type Ranges struct {
	list string // the ranges joined by "\n"
}

// NewRanges makes a list of ranges, for example from
// network.reachable_ranges.
func NewRanges(cidrs ...string) Ranges { return Ranges{list: strings.Join(cidrs, "\n")} }

// Strings returns the ranges as given.
func (r Ranges) Strings() []string {
	if r.list == "" {
		return nil
	}
	return strings.Split(r.list, "\n")
}

// Len is the number of ranges.
func (r Ranges) Len() int { return len(r.Strings()) }

// String is for logs.
func (r Ranges) String() string { return "[" + strings.Join(r.Strings(), " ") + "]" }

// UnmarshalTOML decodes a TOML array of strings.
func (r *Ranges) UnmarshalTOML(v any) error {
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
	*r = NewRanges(cidrs...)
	return nil
}

// MarshalTOML encodes a TOML array of strings.
func (r Ranges) MarshalTOML() ([]byte, error) {
	s := r.Strings()
	if s == nil {
		s = []string{}
	}
	return json.Marshal(s) // a JSON array of strings is a TOML inline array
}

// MarshalJSON is the same array, for status output.
func (r Ranges) MarshalJSON() ([]byte, error) { return r.MarshalTOML() }

// Parse parses relay.allowed_peer_ranges: CIDR prefixes without
// host bits, at most MaxRanges.
func Parse(key string, r Ranges) ([]netip.Prefix, error) {
	ranges := r.Strings()
	if len(ranges) > MaxRanges {
		return nil, fmt.Errorf("%s has %d ranges: use at most %d", key, len(ranges), MaxRanges)
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

// Filter decides which peer addresses the relay sends to. It is built
// at each Start (the host's addresses can change between promotions) and
// read without locks afterwards.
type Filter struct {
	allowed   []netip.Prefix
	self      map[netip.Addr]bool // the super-node's own addresses
	relayIPs  map[netip.Addr]bool // own addresses that carry relayed transport addresses
	broadcast map[netip.Addr]bool
}

func toAddr(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}

// New collects the host's addresses from nw (interfaces and
// their IPv4 subnet broadcasts) plus the listen, public and extra own
// addresses.
func New(allowed []netip.Prefix, nw transport.Net, listen, public net.IP, own []net.IP) *Filter {
	f := &Filter{allowed: allowed, self: map[netip.Addr]bool{}, relayIPs: map[netip.Addr]bool{}, broadcast: map[netip.Addr]bool{limitedBC: true}}
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

// ForgetSelf lets the host's own addresses through like any other (tests
// on one machine, where every peer is on the host).
func (f *Filter) ForgetSelf() { f.self = map[netip.Addr]bool{} }

// Permit classifies a peer IP for a permission (CreatePermission,
// ChannelBind): ok, or the kind that forbids it.
func (f *Filter) Permit(ip net.IP) (Kind, bool) {
	a, ok := toAddr(ip)
	if !ok {
		return Unspecified, false
	}
	return f.classify(a, true)
}

func (f *Filter) classify(a netip.Addr, outer bool) (Kind, bool) {
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
		return Unspecified, false
	case a.IsMulticast():
		return Multicast, false
	case f.broadcast[a]:
		return Broadcast, false
	case f.self[a]:
		return Self, f.relayIPs[a] && outer
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

// IsSelf reports whether addr is one of the super-node's own addresses
// (the data-path check: such a destination passes only on a relay port).
func (f *Filter) IsSelf(addr net.Addr) (port int, self bool) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, false
	}
	a, ok := toAddr(ua.IP)
	return ua.Port, ok && f.self[a]
}

// IsSelfAddr is IsSelf for a netip address (the fast path's).
func (f *Filter) IsSelfAddr(a netip.Addr) bool { return f.self[a.Unmap()] }
