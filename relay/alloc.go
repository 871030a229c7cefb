package relay

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peercall/peercall/relay/fastpath"
	"github.com/peercall/peercall/relay/peerfilter"

	"github.com/pion/turn/v5"
)

var errTCPAllocation = errors.New("relay: TCP relay allocations (RFC 6062) are not offered; allocate UDP")

// allocator is the RelayAddressGenerator given to pion/turn: it reserves a
// session slot (relay.max_sessions, relay.max_sessions_per_user), opens the
// relay socket through the inner generator (which uses Options.Net) and
// returns it wrapped in a meteredConn that applies the bandwidth bucket,
// counts the traffic and ends the session at relay.max_session_duration,
// relay.idle_timeout or relay.allocation_lifetime.
type allocator struct {
	r      *Relay
	inner  turn.RelayAddressGenerator
	filter *peerfilter.Filter
	fast   *fastpath.Table // nil: every packet through pion/turn and the kernel
}

func (a *allocator) Validate() error { return a.inner.Validate() }

func (a *allocator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if reason, ok := a.r.reserve(conf.UserID); !ok {
		a.r.refuse(reason)
		return nil, nil, fmt.Errorf("relay: allocation for %q refused: %s", conf.UserID, reason)
	}
	conn, addr, err := a.inner.AllocatePacketConn(conf)
	if err != nil {
		a.r.release(conf.UserID)
		return nil, nil, err
	}
	c := a.r.newMeteredConn(conn, conf.UserID, a.filter)
	if ap, ok := fastpath.AddrPort(addr); ok && a.fast != nil {
		c.fast, c.relayed = a.fast, ap
	}
	return c, addr, nil
}

func (a *allocator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	a.r.refuse(RefusedTCPAllocation)
	return nil, nil, errTCPAllocation
}

func (a *allocator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	a.r.refuse(RefusedTCPAllocation)
	return nil, errTCPAllocation
}

// admit is the QuotaHandler: it refuses at once, with a 486 (Allocation
// Quota Reached) answer, an allocation that reserve would refuse. reserve
// remains the authority (two racing requests can both pass admit).
func (r *Relay) admit(userID, _ string, _ net.Addr) bool {
	r.mu.Lock()
	reason, ok := r.canReserveLocked(userID)
	r.mu.Unlock()
	if !ok {
		r.refuse(reason)
		r.log.Debug("relay: allocation refused", "user", userID, "reason", reason)
	}
	return ok
}

func (r *Relay) canReserveLocked(userID string) (Reason, bool) {
	switch {
	case r.draining:
		return RefusedDraining, false
	case r.sessions >= r.cfg.MaxSessions:
		return RefusedMaxSessions, false
	case r.perUser[userID] >= r.cfg.MaxSessionsPerUser:
		return RefusedMaxUserSessions, false
	}
	return "", true
}

// reserve takes a session slot for userID.
func (r *Relay) reserve(userID string) (Reason, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if reason, ok := r.canReserveLocked(userID); !ok {
		return reason, false
	}
	r.sessions++
	r.perUser[userID]++
	return "", true
}

// release frees a slot taken by reserve.
func (r *Relay) release(userID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sessions--
	if r.perUser[userID]--; r.perUser[userID] <= 0 {
		delete(r.perUser, userID)
	}
	if r.sessions == 0 {
		r.idle.Broadcast()
	}
	return r.sessions
}

// meteredConn is one allocation's relay socket. Both directions pass the
// shared token bucket: peer -> client in ReadFrom, client -> peer in
// WriteTo. Over-budget packets are dropped and counted, never queued, so
// that delay stays low for the packets that pass. A datagram to or from
// one of the super-node's own addresses passes only on an open relay port
// (peers.go). A watchdog closes the allocation at
// relay.max_session_duration, after relay.idle_timeout without a packet,
// or after relay.allocation_lifetime without a Refresh.
type meteredConn struct {
	net.PacketConn
	r       *Relay
	filter  *peerfilter.Filter
	user    string
	port    int
	opened  time.Time
	fast    *fastpath.Table // set before pion sees the socket
	relayed netip.AddrPort  // the relayed address, for fast

	lastActive  atomic.Int64 // UnixNano of the last relayed packet
	lastRefresh atomic.Int64 // UnixNano of the allocation or its last Refresh
	tuple       atomic.Pointer[string]

	timerMu sync.Mutex
	timer   *time.Timer
	done    bool
	closeMu sync.Once
	err     error
}

func (r *Relay) newMeteredConn(conn net.PacketConn, user string, f *peerfilter.Filter) *meteredConn {
	now := time.Now()
	c := &meteredConn{PacketConn: conn, r: r, filter: f, user: user, opened: now}
	if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		c.port = ua.Port
	}
	c.lastActive.Store(now.UnixNano())
	c.lastRefresh.Store(now.UnixNano())
	r.ports.add(c.port)
	r.counters.sessionsTotal.Add(1)
	r.mu.Lock()
	r.conns[c] = struct{}{}
	r.byPort[c.port] = c
	n := r.sessions
	r.mu.Unlock()
	c.timerMu.Lock()
	c.timer = time.AfterFunc(c.nextCheck(now), c.check)
	c.timerMu.Unlock()
	r.tracer.SessionOpened(n)
	return c
}

// nextCheck is how long until the earliest limit could be reached.
func (c *meteredConn) nextCheck(now time.Time) time.Duration {
	cfg := &c.r.cfg
	next := c.opened.Add(cfg.MaxSessionDuration)
	if t := time.Unix(0, c.lastActive.Load()).Add(cfg.IdleTimeout); t.Before(next) {
		next = t
	}
	if c.tuple.Load() != nil {
		if t := time.Unix(0, c.lastRefresh.Load()).Add(cfg.AllocationLifetime); t.Before(next) {
			next = t
		}
	}
	return max(next.Sub(now), time.Millisecond)
}

// check is the watchdog: it closes the allocation when a limit is reached
// and otherwise waits for the next one.
func (c *meteredConn) check() {
	now := time.Now()
	cfg := &c.r.cfg
	var cause CloseCause
	switch {
	case !now.Before(c.opened.Add(cfg.MaxSessionDuration)):
		cause = ClosedMaxDuration
	case !now.Before(time.Unix(0, c.lastActive.Load()).Add(cfg.IdleTimeout)):
		cause = ClosedIdle
	case c.tuple.Load() != nil && !now.Before(time.Unix(0, c.lastRefresh.Load()).Add(cfg.AllocationLifetime)):
		cause = ClosedUnrefreshed
	}
	if cause == "" {
		c.timerMu.Lock()
		if !c.done {
			c.timer.Reset(c.nextCheck(now))
		}
		c.timerMu.Unlock()
		return
	}
	c.r.log.Info("relay: closing session", "user", c.user, "cause", cause, "age", now.Sub(c.opened).Round(time.Millisecond))
	if cause == ClosedMaxDuration {
		c.r.counters.sessionsExpired.Add(1)
	}
	c.r.counters.closed.add(cause)
	c.r.tracer.SessionCut(cause)
	_ = c.Close()
}

// Allow charges n bytes relayed by c, and by to when the packet is handed
// to that allocation in process (fastpath.Leg), in one charge of the
// bucket: each allocation a packet crosses counts it, as when it crosses
// the kernel between them.
func (c *meteredConn) Allow(n int, to fastpath.Leg) bool {
	d, _ := to.(*meteredConn)
	legs := 1
	if d != nil {
		legs = 2
	}
	now := time.Now()
	if !c.r.bucket.allow(legs*n, int64(now.Sub(c.r.epoch))) {
		c.r.counters.dropped.add(DroppedBandwidth)
		c.r.tracer.Dropped(DroppedBandwidth)
		return false
	}
	c.lastActive.Store(now.UnixNano())
	if d != nil {
		d.lastActive.Store(now.UnixNano())
		c.r.counters.handed.Add(1)
	}
	c.r.counters.bytesRelayed.Add(uint64(legs * n)) //nolint:gosec // n >= 0
	c.r.counters.packetsRelayed.Add(uint64(legs))   //nolint:gosec // 1 or 2
	for range legs {
		c.r.tracer.Relayed(n)
	}
	return true
}

func (c *meteredConn) allow(n int) bool { return c.Allow(n, nil) }

// Forbidden is ownPortForbidden for the fast path (fastpath.Leg).
func (c *meteredConn) Forbidden(peer netip.AddrPort) bool {
	if !c.filter.IsSelfAddr(peer.Addr()) || c.r.ports.has(int(peer.Port())) {
		return false
	}
	c.r.counters.dropped.add(DroppedPeerForbidden)
	c.r.tracer.Dropped(DroppedPeerForbidden)
	c.r.forbidPeer(peerfilter.Self)
	return true
}

// WriteToPeer sends p to peer from the relay socket (fastpath.Leg).
func (c *meteredConn) WriteToPeer(p []byte, peer netip.AddrPort) error {
	if u, ok := c.PacketConn.(*net.UDPConn); ok {
		_, err := u.WriteToUDPAddrPort(p, peer)
		return err
	}
	_, err := c.PacketConn.WriteTo(p, net.UDPAddrFromAddrPort(peer))
	return err
}

// ownPortForbidden reports (and counts) a datagram to or from one of the
// super-node's own addresses on a port that is not an open relay socket.
func (c *meteredConn) ownPortForbidden(addr net.Addr) bool {
	port, self := c.filter.IsSelf(addr)
	if !self || c.r.ports.has(port) {
		return false
	}
	c.r.counters.dropped.add(DroppedPeerForbidden)
	c.r.tracer.Dropped(DroppedPeerForbidden)
	c.r.forbidPeer(peerfilter.Self)
	return true
}

// ReadFrom returns the next packet from a peer that fits the budget. With
// the fast path, a packet from a peer with a bound channel goes to the
// client as ChannelData here and never reaches pion/turn.
func (c *meteredConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if u, ok := c.PacketConn.(*net.UDPConn); ok && c.fast != nil && len(p) > fastpath.HeaderRoom {
		return c.readFast(u, p)
	}
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		if !c.ownPortForbidden(addr) && c.allow(n) {
			return n, addr, nil
		}
	}
}

func (c *meteredConn) readFast(u *net.UDPConn, p []byte) (int, net.Addr, error) {
	const h = fastpath.HeaderRoom - 3 // the ChannelData header
	for {
		n, from, err := u.ReadFromUDPAddrPort(p[h : len(p)-3])
		if err != nil {
			return 0, nil, err
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if c.Forbidden(from) || !c.allow(n) || c.fast.FromPeer(c.relayed, from, p, n) {
			continue
		}
		copy(p, p[h:h+n])
		return n, net.UDPAddrFromAddrPort(from), nil
	}
}

// WriteTo sends a client's packet to a peer if it may go there and fits
// the budget; a dropped packet is reported as written, as a congested link
// would.
func (c *meteredConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.ownPortForbidden(addr) || !c.allow(len(p)) {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

// Close ends the session: the relay socket closes, pion/turn's read loop
// sees the error and deletes the allocation.
func (c *meteredConn) Close() error {
	c.closeMu.Do(func() {
		c.timerMu.Lock()
		c.done = true
		c.timer.Stop()
		c.timerMu.Unlock()
		c.err = c.PacketConn.Close()
		if c.fast != nil {
			c.fast.RemoveAlloc(c)
		}
		c.r.ports.remove(c.port)
		c.r.mu.Lock()
		delete(c.r.conns, c)
		if c.r.byPort[c.port] == c {
			delete(c.r.byPort, c.port)
		}
		if t := c.tuple.Load(); t != nil && c.r.byTuple[*t] == c {
			delete(c.r.byTuple, *t)
		}
		c.r.mu.Unlock()
		n := c.r.release(c.user)
		c.r.tracer.SessionClosed(n, time.Since(c.opened))
	})
	return c.err
}

// tupleKey names an allocation's 5-tuple as pion/turn's events give it.
func tupleKey(src, dst net.Addr) string { return src.String() + "|" + dst.String() }

// onAllocationCreated links the allocation's 5-tuple to its relay socket,
// so that Refresh requests (seen in onAuth) reach its watchdog.
func (r *Relay) onAllocationCreated(src, dst net.Addr, _, _, _ string, relayAddr net.Addr, _ int) {
	ua, ok := relayAddr.(*net.UDPAddr)
	if !ok {
		return
	}
	key := tupleKey(src, dst)
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.byPort[ua.Port]; c != nil {
		c.tuple.Store(&key)
		r.byTuple[key] = c
		client, ok := fastpath.AddrPort(src)
		if _, udp := dst.(*net.UDPAddr); ok && udp && c.fast != nil {
			c.fast.AddAlloc(client, c.relayed, c)
		}
	}
}

// onChannel mirrors pion/turn's channel binds of UDP clients into the
// fast path's table.
func onChannel(fast *fastpath.Table, created bool) func(src, dst net.Addr, _, _, _ string, _, peer net.Addr, num uint16) {
	return func(src, dst net.Addr, _, _, _ string, _, peer net.Addr, num uint16) {
		client, ok := fastpath.AddrPort(src)
		p, okPeer := fastpath.AddrPort(peer)
		if _, udp := dst.(*net.UDPAddr); !ok || !okPeer || !udp {
			return
		}
		if created {
			fast.AddChannel(client, num, p)
		} else {
			fast.RemoveChannel(client, num)
		}
	}
}

// refreshed notes a successful Refresh of the allocation of this 5-tuple.
func (r *Relay) refreshed(src, dst net.Addr) {
	r.mu.Lock()
	c := r.byTuple[tupleKey(src, dst)]
	r.mu.Unlock()
	if c != nil {
		c.lastRefresh.Store(time.Now().UnixNano())
	}
}

// bucket is the total bandwidth token bucket (relay.max_kbps), as a
// generic cell rate algorithm on one atomic word: a packet passes if the
// bucket's theoretical arrival time, pushed by the packet's cost, stays
// within the burst of now. The burst is 50 ms of traffic but at least two
// full-size packets (a packet larger than the burst could never pass).
type bucket struct {
	nsPerByte float64
	burst     int64        // ns of traffic
	tat       atomic.Int64 // ns since Relay.epoch
}

func newBucket(kbps int) *bucket {
	bytesPerSec := float64(kbps) * 1000 / 8
	burst := max(bytesPerSec/20, 2*1600)
	return &bucket{nsPerByte: 1e9 / bytesPerSec, burst: int64(burst * 1e9 / bytesPerSec)}
}

// allow takes n bytes at now (ns since the epoch) if they fit.
func (b *bucket) allow(n int, now int64) bool {
	cost := int64(math.Ceil(float64(n) * b.nsPerByte))
	for {
		tat := b.tat.Load()
		next := max(tat, now) + cost
		if next-now > b.burst {
			return false
		}
		if b.tat.CompareAndSwap(tat, next) {
			return true
		}
	}
}

// permit is the PermissionHandler of every listener: CreatePermission,
// ChannelBind and Connect to a peer address the filter forbids are refused
// (403, or 401 for ChannelBind, as pion/turn answers) and counted. Send
// indications and ChannelData need a permission, so they never reach such
// a peer either.
func (r *Relay) permit(f *peerfilter.Filter) turn.PermissionHandler {
	return func(client net.Addr, peer net.IP) bool {
		kind, ok := f.Permit(peer)
		if !ok {
			r.refuse(RefusedPeerForbidden)
			r.forbidPeer(kind)
			r.log.Debug("relay: peer address refused", "client", client, "peer", peer, "kind", kind)
		}
		return ok
	}
}

func (r *Relay) forbidPeer(kind peerfilter.Kind) {
	r.counters.peerForbidden.add(kind)
	r.tracer.PeerForbidden(kind)
}
