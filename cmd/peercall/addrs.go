package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/home"
)

// maxLoginAddrs is the most addresses the directory accepts at login.
const maxLoginAddrs = 16

// loginAddrs are the libp2p addresses `login` reports to the directory, for
// its bootstrap list and its user lookups: the running node's when one runs
// on the home, else the configured listen addresses (an unspecified host
// stands for every non-loopback interface address).
func loginAddrs(ctx context.Context, hm *home.Home) []string {
	if cc, err := control.Dial(hm); err == nil {
		if resp, err := cc.Do(ctx, control.Request{Op: control.OpStatus}, nil); err == nil && resp.Status != nil {
			return capAddrs(resp.Status.Addrs)
		}
	}
	cfg, err := hm.Config()
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range cfg.Network.Listen {
		host, port, err := net.SplitHostPort(l)
		if err != nil || port == "0" {
			continue
		}
		var ips []netip.Addr
		if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
			ips = append(ips, ip.Unmap())
		} else {
			ips = interfaceIPs()
		}
		for _, ip := range ips {
			proto := "ip4"
			if ip.Is6() {
				proto = "ip6"
			}
			out = append(out, fmt.Sprintf("/%s/%s/tcp/%s", proto, ip, port), fmt.Sprintf("/%s/%s/udp/%s/quic-v1", proto, ip, port))
		}
	}
	return capAddrs(out)
}

// interfaceIPs returns the machine's global and private unicast addresses.
func interfaceIPs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := p.Addr().Unmap()
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
			continue
		}
		out = append(out, ip)
	}
	return out
}

func capAddrs(a []string) []string {
	if len(a) > maxLoginAddrs {
		return a[:maxLoginAddrs]
	}
	return a
}
