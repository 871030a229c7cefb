package budget

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP is the request's client address. When the peer is one of the
// trusted proxies, the client is the rightmost address of X-Forwarded-For
// that is not a trusted proxy itself. ok is false when RemoteAddr holds no
// IP address (never over TCP).
func ClientIP(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	ip = ip.Unmap()
	if isTrusted(ip, trusted) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a malformed hop: stop at the last proxy we trust
			}
			hop = hop.Unmap()
			ip = hop
			if !isTrusted(hop, trusted) {
				break
			}
		}
	}
	return ip.WithZone(""), true
}

// ClientKey is the throttling key of the request's client: its IP address,
// or its /64 for IPv6 (one host usually holds a whole /64).
func ClientKey(r *http.Request, trusted []netip.Prefix) string {
	ip, ok := ClientIP(r, trusted)
	if !ok {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		return host
	}
	return AddrKey(ip)
}

// AddrKey is the throttling key of an address: itself, or its /64.
func AddrKey(ip netip.Addr) string {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
