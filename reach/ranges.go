package reach

import (
	"fmt"
	"net/netip"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// State is what a node knows about being reachable from others.
type State string

// States, spelt as in `status --json`.
const (
	StateUnknown State = "unknown"
	StatePublic  State = "public"
	StatePrivate State = "private"
	// StateRestricted: only TCP 443 gets out (network.restricted,
	// or proven by probes); the node relays for nobody.
	StateRestricted State = "restricted"
)

// Ranges decides which addresses count as publicly reachable: public
// ones (libp2p's manet.IsPublicAddr) plus network.reachable_ranges, under
// which a campus network or the lab (10/8, 100.64/10, 198.18/15, even
// 127/8 on loopback) counts too.
type Ranges []netip.Prefix

// ParseRanges parses network.reachable_ranges (validated by Config).
func ParseRanges(ranges []string) (Ranges, error) {
	out := make(Ranges, 0, len(ranges))
	for _, r := range ranges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, fmt.Errorf("network.reachable_ranges: %q is not a CIDR range such as \"10.0.0.0/8\": %w", r, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// IPOf returns the IP of an /ip4 or /ip6 multiaddr.
func IPOf(a ma.Multiaddr) (netip.Addr, bool) {
	ip, err := manet.ToIP(a)
	if err != nil {
		return netip.Addr{}, false
	}
	addr, ok := netip.AddrFromSlice(ip)
	return addr.Unmap(), ok
}

// Counts reports whether a counts as publicly reachable.
func (rs Ranges) Counts(a ma.Multiaddr) bool {
	if IsCircuit(a) {
		return false
	}
	if ip, ok := IPOf(a); ok {
		for _, p := range rs {
			if p.Contains(ip) {
				return true
			}
		}
	}
	return manet.IsPublicAddr(a)
}

func IsCircuit(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// isTCPAddr reports whether a is /ip4|ip6/…/tcp/PORT and nothing more.
func isTCPAddr(a ma.Multiaddr) bool {
	ps := a.Protocols()
	return len(ps) == 2 && (ps[0].Code == ma.P_IP4 || ps[0].Code == ma.P_IP6) && ps[1].Code == ma.P_TCP
}
