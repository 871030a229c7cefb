package media

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/audio"
)

// TestRelayFailover: a relay-only session's TURN server dies mid-call; the
// session reports the path lost within ICEDisconnectedTimeout (plus
// slack), takes a second TURN server with SetICEServers, restarts ICE
// through it, reports the path restored, and audio flows again through the
// new relay. The time from loss to restored is logged.
func TestRelayFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	turn1, stop1 := startStoppableTURN(t)
	defer stop1()
	turn2 := startTURN(t)
	ca, cb := loopbackConfig(), loopbackConfig()
	ca.ICEServers, ca.RelayOnly = []webrtc.ICEServer{turn1}, true
	a, b := pair(t, ctx, ca, cb)
	src := &sliceSource{samples: speechSeconds("alice", 20, audio.Frame20ms), interval: audio.Frame20ms}
	if err := startBoth(ctx, a, b, src, &sliceSource{}, &sliceSink{}, &sliceSink{}); err != nil {
		t.Fatal(err)
	}
	waitPackets := func(n uint64) {
		t.Helper()
		for b.packetsReceived.Load() < n {
			select {
			case <-ctx.Done():
				t.Fatalf("b received %d packets, want %d", b.packetsReceived.Load(), n)
			case <-a.Done():
				t.Fatalf("a ended: %v", a.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	waitPath := func(lost bool, within time.Duration) PathEvent {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case ev := <-a.PathEvents():
				if ev.Lost == lost {
					return ev
				}
			case <-deadline:
				t.Fatalf("no path event lost=%v within %v (a: %v)", lost, within, a.Stats().Route)
			case <-a.Done():
				t.Fatalf("a ended: %v", a.Err())
			}
		}
	}
	waitPackets(25)
	before := a.Stats().Route
	if before.Kind != "relay" {
		t.Fatalf("route %v, want relay", before)
	}
	stop1()
	killed := time.Now()
	lost := waitPath(true, ICEDisconnectedTimeout+3*time.Second)
	t.Logf("path lost %v after the relay died (%s)", lost.At.Sub(killed).Round(time.Millisecond), lost.State)

	if err := a.SetICEServers([]webrtc.ICEServer{turn2}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	offer, err := a.RestartICEOffer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	answer, err := b.Accept(ctx, offer)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restart offer in %v, answer in %v", t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
	if !strings.Contains(offer, "typ relay") {
		t.Errorf("the restart offer carries no relay candidate:\n%s", offer)
	}
	if err := a.SetAnswer(answer); err != nil {
		t.Fatal(err)
	}
	back := waitPath(false, 5*time.Second)
	t.Logf("path restored %v after the loss, %v after the relay died", back.At.Sub(lost.At).Round(time.Millisecond), back.At.Sub(killed).Round(time.Millisecond))
	n := b.packetsReceived.Load()
	waitPackets(n + 25)
	after := a.Stats().Route
	if after.Kind != "relay" || after.RelayAddr == before.RelayAddr {
		t.Errorf("route after failover %v, want relay through the second TURN server (before: %v)", after, before)
	}
}

// TestSetICEServersValidates: a relay-only session refuses servers with
// no TURN among them, and bad URLs, naming the problem.
func TestSetICEServersValidates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := loopbackConfig()
	cfg.ICEServers, cfg.RelayOnly = []webrtc.ICEServer{startTURN(t)}, true
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		name    string
		servers []webrtc.ICEServer
	}{
		{"no servers", nil},
		{"stun only", []webrtc.ICEServer{{URLs: []string{"stun:127.0.0.1:3478"}}}},
		{"bad scheme", []webrtc.ICEServer{{URLs: []string{"http://127.0.0.1"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.SetICEServers(tt.servers); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestStandbySwitch: a relay-only session holds a standby relay (two TURN
// servers, relaying from 127.0.0.1 and 127.0.0.2); the one carrying the
// call dies, and the session moves to a pair through the other on its own
// (standby.go: no ICE restart, no signalling). How long the peer heard
// nothing is logged, not asserted.
func TestStandbySwitch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	turn1, stop1 := startTURNOn(t, "127.0.0.1")
	defer stop1()
	turn2, stop2 := startTURNOn(t, "127.0.0.2")
	defer stop2()
	ca, cb := loopbackConfig(), loopbackConfig()
	ca.ICEServers, ca.RelayOnly = []webrtc.ICEServer{turn1, turn2}, true
	a, b := pair(t, ctx, ca, cb)
	src := &sliceSource{samples: speechSeconds("alice", 15, audio.Frame20ms), interval: audio.Frame20ms}
	if err := startBoth(ctx, a, b, src, &sliceSource{}, &sliceSink{}, &sliceSink{}); err != nil {
		t.Fatal(err)
	}
	if !a.HasStandby() {
		t.Error("a session with two TURN servers reports no standby")
	}
	// waitPackets waits until b received n packets and returns the
	// longest time it received none (polled every 5 ms).
	waitPackets := func(n uint64) time.Duration {
		t.Helper()
		last, seen, gap := time.Now(), b.packetsReceived.Load(), time.Duration(0)
		for seen < n {
			select {
			case <-ctx.Done():
				t.Fatalf("b received %d packets, want %d", seen, n)
			case <-a.Done():
				t.Fatalf("a ended: %v", a.Err())
			case now := <-time.After(5 * time.Millisecond):
				if c := b.packetsReceived.Load(); c != seen {
					seen, gap, last = c, max(gap, now.Sub(last)), now
				}
			}
		}
		return gap
	}
	waitPackets(75) // 1.5 s: past switchHoldOff
	before := a.Stats().Route
	stop := stop1
	if strings.HasPrefix(before.RelayAddr, "127.0.0.2:") {
		stop = stop2
	}
	stop()
	gap := waitPackets(b.packetsReceived.Load() + 50)
	after := a.Stats().Route
	t.Logf("after the relay died b heard nothing for %v; switches: a %d, b %d; route %v -> %v",
		gap.Round(time.Millisecond), a.PathSwitches(), b.PathSwitches(), before, after)
	if a.PathSwitches()+b.PathSwitches() == 0 {
		t.Error("audio came back without a path switch")
	}
	if after.Kind != RouteRelay || after.RelayAddr == before.RelayAddr {
		t.Errorf("route after the switch %v, want relay through the other TURN server (before: %v)", after, before)
	}
}
