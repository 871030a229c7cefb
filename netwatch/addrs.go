package netwatch

import (
	"net/netip"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Removed reports whether the change took an address away (or was
// injected): the node's calls then need a new path; an address that only
// appears leaves the working one alone.
func (c Change) Removed() bool {
	if c.Injected {
		return true
	}
	for _, a := range c.Old {
		if !c.New.Has(a) {
			return true
		}
	}
	return false
}

func ipOf(a ma.Multiaddr) (netip.Addr, bool) {
	ip, err := manet.ToIP(a)
	if err != nil {
		return netip.Addr{}, false
	}
	addr, ok := netip.AddrFromSlice(ip)
	return addr.Unmap(), ok
}

func isCircuit(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// FreshAddrs corrects a libp2p host's addresses (its address factory's
// input, in) with snap: libp2p expands an unspecified listen address
// (0.0.0.0) over interface addresses it caches for a minute. It drops the
// private addresses no interface has any more (loopback stays) and adds
// the expansions of listen's unspecified addresses over snap (loopback
// only when in had some).
func FreshAddrs(in, listen []ma.Multiaddr, snap Snapshot) []ma.Multiaddr {
	out := make([]ma.Multiaddr, 0, len(in))
	loopback := false
	for _, a := range in {
		ip, ok := ipOf(a)
		if ok && !ip.IsLoopback() && !isCircuit(a) && !manet.IsPublicAddr(a) && !snap.Has(ip) {
			continue // an interface address that is gone
		}
		loopback = loopback || (ok && ip.IsLoopback())
		out = append(out, a)
	}
	var ifaces []ma.Multiaddr
	for _, ip := range snap {
		if ip.IsLoopback() && !loopback {
			continue
		}
		if a, err := manet.FromIP(ip.AsSlice()); err == nil {
			ifaces = append(ifaces, a)
		}
	}
	for _, l := range listen {
		if ip, ok := ipOf(l); !ok || !ip.IsUnspecified() {
			continue
		}
		if res, err := manet.ResolveUnspecifiedAddress(l, ifaces); err == nil {
			out = append(out, res...)
		}
	}
	return out
}

// ListenIPs are the specific IPs of listen (circuits skipped), or nil
// when one is unspecified (every interface).
func ListenIPs(listen []ma.Multiaddr) []string {
	var ips []string
	for _, l := range listen {
		ip, ok := ipOf(l)
		if !ok || isCircuit(l) {
			continue
		}
		if ip.IsUnspecified() {
			return nil
		}
		ips = append(ips, ip.String())
	}
	return ips
}
