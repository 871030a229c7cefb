package netlab

import (
	"fmt"
	"net/netip"
)

// A Segment is one Ethernet (a bridge in a namespace of its own) with one
// IPv4 /24: the internet segment, or the LAN behind a Router.
type Segment struct {
	lab    *Lab
	name   string
	ns     string
	prefix netip.Prefix
	router *Router // owner of a LAN segment; nil for the internet

	// guarded by lab.mu
	next    int // last octet of the next address
	ports   int // bridge ports made so far
	members []*Host
	routes  []route // announced to every member (NoNAT LANs behind it)
}

// route is a prefix reachable through a gateway on the segment.
type route struct {
	prefix netip.Prefix
	via    netip.Addr
}

func (l *Lab) newSegment(name string, prefix netip.Prefix, first int) *Segment {
	l.t.Helper()
	s := &Segment{lab: l, name: name, ns: l.nsName(name, true), prefix: prefix, next: first}
	l.addNamespace(s.ns)
	l.mustRun("ip", "-n", s.ns, "link", "add", "br0", "type", "bridge")
	l.mustRun("ip", "-n", s.ns, "link", "set", "br0", "up")
	return s
}

// Name is the segment's name: "internet", or the name of the router whose LAN
// it is.
func (s *Segment) Name() string { return s.name }

// Prefix is the segment's address range.
func (s *Segment) Prefix() netip.Prefix { return s.prefix }

// Gateway is the address of the router owning this LAN, or the zero Addr on
// the internet segment.
func (s *Segment) Gateway() netip.Addr {
	if s.router == nil {
		return netip.Addr{}
	}
	return s.router.lanAddr
}

// allocate hands out the next address of the segment and a bridge port name.
func (s *Segment) allocate() (netip.Addr, string) {
	l := s.lab
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.next > 254 {
		l.t.Fatalf("netlab: segment %s is full (%s)", s.name, s.prefix)
	}
	a := s.prefix.Addr().As4()
	a[3] = byte(s.next)
	s.next++
	s.ports++
	return netip.AddrFrom4(a), fmt.Sprintf("p%d", s.ports)
}

// attach joins namespace ns to the segment with interface ifname and address
// addr, and brings the link up.
func (s *Segment) attach(ns, ifname string, addr netip.Addr, port string) {
	l := s.lab
	l.t.Helper()
	l.mustRun("ip", "-n", s.ns, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns)
	l.mustRun("ip", "-n", s.ns, "link", "set", port, "master", "br0", "up")
	l.mustRun("ip", "-n", ns, "addr", "add", netip.PrefixFrom(addr, s.prefix.Bits()).String(), "dev", ifname)
	l.mustRun("ip", "-n", ns, "link", "set", ifname, "up")
}

// join records h as a member and gives it the routes announced so far.
func (s *Segment) join(h *Host) {
	l := s.lab
	l.t.Helper()
	l.mu.Lock()
	s.members = append(s.members, h)
	routes := append([]route(nil), s.routes...)
	l.mu.Unlock()
	for _, r := range routes {
		if r.via != h.addr {
			l.mustRun("ip", "-n", h.ns, "route", "add", r.prefix.String(), "via", r.via.String())
		}
	}
}

// announce makes prefix reachable via gateway for every member of s, present
// and future; while s is itself the LAN of a NoNAT router, the route goes on
// up to that router's WAN segment.
func (s *Segment) announce(prefix netip.Prefix, via netip.Addr) {
	l := s.lab
	l.t.Helper()
	l.mu.Lock()
	s.routes = append(s.routes, route{prefix, via})
	members := append([]*Host(nil), s.members...)
	l.mu.Unlock()
	for _, h := range members {
		if h.addr != via {
			l.mustRun("ip", "-n", h.ns, "route", "add", prefix.String(), "via", via.String())
		}
	}
	if r := s.router; r != nil && r.nat == NoNAT {
		r.seg.announce(prefix, r.addr)
	}
}
