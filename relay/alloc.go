package relay

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/turn/v5"
	"golang.org/x/time/rate"
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
	filter *peerFilter
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
	return a.r.newMeteredConn(conn, conf.UserID, a.filter), addr, nil
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
	r      *Relay
	filter *peerFilter
	user   string
	port   int
	opened time.Time

	lastActive  atomic.Int64 // UnixNano of the last relayed packet
	lastRefresh atomic.Int64 // UnixNano of the allocation or its last Refresh
	tuple       atomic.Pointer[string]

	timerMu sync.Mutex
	timer   *time.Timer
	done    bool
	closeMu sync.Once
	err     error
}

func (r *Relay) newMeteredConn(conn net.PacketConn, user string, f *peerFilter) *meteredConn {
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

func (c *meteredConn) allow(n int) bool {
	now := time.Now()
	if c.r.limiter.AllowN(now, n) {
		c.lastActive.Store(now.UnixNano())
		c.r.counters.bytesRelayed.Add(uint64(n))
		c.r.counters.packetsRelayed.Add(1)
		c.r.tracer.Relayed(n)
		return true
	}
	c.r.counters.dropped.add(DroppedBandwidth)
	c.r.tracer.Dropped(DroppedBandwidth)
	return false
}

// ownPortForbidden reports (and counts) a datagram to or from one of the
// super-node's own addresses on a port that is not an open relay socket.
func (c *meteredConn) ownPortForbidden(addr net.Addr) bool {
	port, self := c.filter.isSelf(addr)
	if !self || c.r.ports.has(port) {
		return false
	}
	c.r.counters.dropped.add(DroppedPeerForbidden)
	c.r.tracer.Dropped(DroppedPeerForbidden)
	c.r.forbidPeer(PeerSelf)
	return true
}

// ReadFrom returns the next packet from a peer that fits the budget.
func (c *meteredConn) ReadFrom(p []byte) (int, net.Addr, error) {
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

// newLimiter is the total bandwidth bucket: kbps kbit/s, with a burst of
// 50 ms of traffic but at least two full-size packets (a packet larger than
// the burst could never pass).
func newLimiter(kbps int) *rate.Limiter {
	bytesPerSec := float64(kbps) * 1000 / 8
	burst := int(bytesPerSec / 20)
	if burst < 2*1600 {
		burst = 2 * 1600
	}
	return rate.NewLimiter(rate.Limit(bytesPerSec), burst)
}

// permit is the PermissionHandler of every listener: CreatePermission,
// ChannelBind and Connect to a peer address the filter forbids are refused
// (403, or 401 for ChannelBind, as pion/turn answers) and counted. Send
// indications and ChannelData need a permission, so they never reach such
// a peer either.
func (r *Relay) permit(f *peerFilter) turn.PermissionHandler {
	return func(client net.Addr, peer net.IP) bool {
		kind, ok := f.permit(peer)
		if !ok {
			r.refuse(RefusedPeerForbidden)
			r.forbidPeer(kind)
			r.log.Debug("relay: peer address refused", "client", client, "peer", peer, "kind", kind)
		}
		return ok
	}
}

func (r *Relay) forbidPeer(kind PeerKind) {
	r.counters.peerForbidden.add(kind)
	r.tracer.PeerForbidden(kind)
}
