package netlab

import (
	"fmt"
	"net/netip"
	"slices"
)

// MoveTo unplugs the host from its segment and plugs it into seg, with
// seg's next address: a laptop carried to another network (another
// segment, or behind another router's NAT). Its old address and routes go
// with the old link; it gets the new address, a default route through
// seg's router (on a LAN) and seg's announced routes. Processes keep
// running. It returns the new address. Routers cannot move.
func (h *Host) MoveTo(seg *Segment) (netip.Addr, error) {
	l := h.lab
	l.t.Helper()
	if h.ifname != "eth0" {
		return netip.Addr{}, fmt.Errorf("netlab: %s is a router; only hosts move", h.name)
	}
	if seg == nil || seg.lab != l || seg == h.seg {
		return netip.Addr{}, fmt.Errorf("netlab: move %s: want another segment of the same lab", h.name)
	}
	// Deleting the bridge end of the veth pair deletes the host's end.
	if _, err := run("ip", "-n", h.seg.ns, "link", "del", h.port); err != nil {
		return netip.Addr{}, fmt.Errorf("netlab: unplug %s from %s: %w", h.name, h.seg.name, err)
	}
	l.mu.Lock()
	old := h.seg
	old.members = slices.DeleteFunc(old.members, func(m *Host) bool { return m == h })
	l.mu.Unlock()
	addr, port := seg.allocate()
	seg.attach(h.ns, h.ifname, addr, port)
	if gw := seg.Gateway(); gw.IsValid() {
		l.mustRun("ip", "-n", h.ns, "route", "add", "default", "via", gw.String())
	}
	l.mu.Lock()
	h.addr, h.port, h.seg = addr, port, seg
	l.mu.Unlock()
	seg.join(h)
	return addr, nil
}
