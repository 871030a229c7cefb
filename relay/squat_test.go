package relay

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// abandon stops a pion client the way a crashed or killed one stops: its
// socket closes, no Refresh with LIFETIME 0 is sent, the server still
// holds the allocation.
func (a *allocation) abandon() {
	a.conn.Close()
	a.client.Close()
}

// TestSlotSquatting: three accounts hold every session of a relay with
// max_sessions = 6 (two each: relay.max_sessions_per_user = 2 refuses
// their third), a fourth account is refused; then the three abandon their
// allocations (real pion/turn clients that stop without deallocating or
// refreshing). Within relay.idle_timeout the slots are free again, the
// closures are counted as idle_timeout, and the fourth account gets in.
func TestSlotSquatting(t *testing.T) {
	w := newWorld(t)
	cfg := testConfig()
	cfg.MaxSessions, cfg.MaxSessionsPerUser = 6, 2
	cfg.IdleTimeout = time.Second
	r := startRelay(t, w, cfg, Options{})
	var held []*allocation
	for i := range 3 {
		c := credsFor(t, w, r, fmt.Sprintf("squatter%d", i))
		for j := range 3 {
			a, err := allocate(t, r, c.Username, c.Password)
			var te *stun.TurnError
			switch {
			case j < 2 && err != nil:
				t.Fatalf("squatter%d allocation %d: %v", i, j, err)
			case j < 2:
				held = append(held, a)
			case !errors.As(err, &te) || te.ErrorCodeAttr.Code != stun.CodeAllocQuotaReached:
				t.Fatalf("squatter%d's third allocation: %v, want 486 (relay.max_sessions_per_user)", i, err)
			}
		}
	}
	// The last squatter's third request meets the full relay first.
	if s := r.Stats(); s.Sessions != 6 || s.Refused[RefusedMaxUserSessions] != 2 || s.Refused[RefusedMaxSessions] != 1 {
		t.Fatalf("stats %+v: want 6 sessions, 2 max_user_sessions and 1 max_sessions refusals", s)
	}
	late := credsFor(t, w, r, "caller")
	if _, err := allocate(t, r, late.Username, late.Password); err == nil {
		t.Fatal("a seventh allocation succeeded at relay.max_sessions = 6")
	}
	for _, a := range held {
		a.abandon()
	}
	start := time.Now()
	eventually(t, "abandoned allocations closed at relay.idle_timeout", func() bool { return r.Stats().Sessions == 0 })
	t.Logf("6 abandoned allocations freed %v after their clients stopped (relay.idle_timeout %v)", time.Since(start).Round(10*time.Millisecond), cfg.IdleTimeout)
	if s := r.Stats(); s.Closed[ClosedIdle] != 6 {
		t.Fatalf("closed %v, want 6 for idle_timeout", s.Closed)
	}
	a, err := allocate(t, r, late.Username, late.Password)
	if err != nil {
		t.Fatalf("allocation after the squatters' slots were freed: %v", err)
	}
	if err := roundTrip(t, a, udpPeer(t), []byte("a slot at last")); err != nil {
		t.Fatal(err)
	}
}

// TestAllocationLifetime: the server grants relay.allocation_lifetime to a
// client that asks for none; a client that asked for 50 minutes and keeps
// sending but never refreshes is closed at relay.allocation_lifetime
// anyway (cause allocation_lifetime); a real pion/turn client that
// refreshes and relays keeps its allocation past both limits.
func TestAllocationLifetime(t *testing.T) {
	w := newWorld(t)
	cfg := testConfig()
	cfg.AllocationLifetime = time.Second
	cfg.IdleTimeout = time.Second
	r := startRelay(t, w, cfg, Options{})
	creds := credsFor(t, w, r, "alice")

	if raw := rawAllocate(t, r, creds, 0); raw.lifetime != cfg.AllocationLifetime {
		t.Fatalf("granted LIFETIME %v without asking, want relay.allocation_lifetime %v", raw.lifetime, cfg.AllocationLifetime)
	}
	eventually(t, "the unrefreshed allocation closed", func() bool { return r.Stats().Sessions == 0 })
	before := r.Stats().Closed

	greedy := rawAllocate(t, r, creds, 50*time.Minute)
	t.Logf("asked for 50m, granted %v", greedy.lifetime)
	peer := udpPeer(t)
	if _, err := greedy.request(stun.MethodCreatePermission, peerAddr(*peer.LocalAddr().(*net.UDPAddr))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Stats().Sessions > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("an allocation that never refreshed is still open after 5s (relay.allocation_lifetime %v)", cfg.AllocationLifetime)
		}
		greedy.indicate(stun.MethodSend, peerAddr(*peer.LocalAddr().(*net.UDPAddr)), stun.RawAttribute{Type: stun.AttrData, Value: []byte("keepalive")})
		time.Sleep(100 * time.Millisecond)
	}
	closed := r.Stats().Closed
	if closed[ClosedUnrefreshed] != before[ClosedUnrefreshed]+1 || closed[ClosedIdle] != before[ClosedIdle] {
		t.Fatalf("closed %v (before %v): want the greedy allocation closed for allocation_lifetime, not idle", closed, before)
	}

	a, err := allocate(t, r, creds.Username, creds.Password)
	if err != nil {
		t.Fatal(err)
	}
	peer = udpPeer(t) // the greedy one's keepalives may still arrive on the first
	for end := time.Now().Add(2 * cfg.AllocationLifetime); time.Now().Before(end); {
		if err := roundTrip(t, a, peer, []byte("still talking")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if s := r.Stats(); s.Sessions != 1 || s.Closed[ClosedUnrefreshed] != closed[ClosedUnrefreshed] || s.Closed[ClosedIdle] != closed[ClosedIdle] {
		t.Fatalf("stats %+v: the refreshing, relaying client lost its allocation", s)
	}
}
