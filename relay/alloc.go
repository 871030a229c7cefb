package relay

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/turn/v5"
	"golang.org/x/time/rate"
)

var errTCPAllocation = errors.New("relay: TCP relay allocations (RFC 6062) are not offered; allocate UDP")

// allocator is the RelayAddressGenerator given to pion/turn: it reserves a
// session slot (relay.max_sessions, relay.max_sessions_per_user), opens the
// relay socket through the inner generator (which uses Options.Net) and
// returns it wrapped in a meteredConn that applies the bandwidth bucket,
// counts the traffic and ends the session at relay.max_session_duration.
type allocator struct {
	r     *Relay
	inner turn.RelayAddressGenerator
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
	return a.r.newMeteredConn(conn, conf.UserID), addr, nil
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
// that delay stays low for the packets that pass.
type meteredConn struct {
	net.PacketConn
	r       *Relay
	user    string
	opened  time.Time
	timerMu sync.Mutex
	timer   *time.Timer
	closeMu sync.Once
	err     error
}

func (r *Relay) newMeteredConn(conn net.PacketConn, user string) *meteredConn {
	c := &meteredConn{PacketConn: conn, r: r, user: user, opened: time.Now()}
	c.timerMu.Lock()
	c.timer = time.AfterFunc(r.cfg.MaxSessionDuration, func() {
		r.log.Info("relay: session reached relay.max_session_duration, closing", "user", user, "duration", r.cfg.MaxSessionDuration)
		r.counters.sessionsExpired.Add(1)
		_ = c.Close()
	})
	c.timerMu.Unlock()
	r.counters.sessionsTotal.Add(1)
	r.mu.Lock()
	r.conns[c] = struct{}{}
	n := r.sessions
	r.mu.Unlock()
	r.tracer.SessionOpened(n)
	return c
}

func (c *meteredConn) allow(n int) bool {
	if c.r.limiter.AllowN(time.Now(), n) {
		c.r.counters.bytesRelayed.Add(uint64(n))
		c.r.counters.packetsRelayed.Add(1)
		c.r.tracer.Relayed(n)
		return true
	}
	c.r.counters.dropped.add(DroppedBandwidth)
	c.r.tracer.Dropped(DroppedBandwidth)
	return false
}

// ReadFrom returns the next packet from a peer that fits the budget.
func (c *meteredConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || c.allow(n) {
			return n, addr, err
		}
	}
}

// WriteTo sends a client's packet to a peer if it fits the budget; a
// dropped packet is reported as written, as a congested link would.
func (c *meteredConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !c.allow(len(p)) {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

// Close ends the session: the relay socket closes, pion/turn's read loop
// sees the error and deletes the allocation.
func (c *meteredConn) Close() error {
	c.closeMu.Do(func() {
		c.timerMu.Lock()
		c.timer.Stop()
		c.timerMu.Unlock()
		c.err = c.PacketConn.Close()
		c.r.mu.Lock()
		delete(c.r.conns, c)
		c.r.mu.Unlock()
		n := c.r.release(c.user)
		c.r.tracer.SessionClosed(n, time.Since(c.opened))
	})
	return c.err
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
