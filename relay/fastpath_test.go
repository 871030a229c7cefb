package relay

import (
	"bytes"
	"testing"
	"time"

	"github.com/peercall/peercall/relay/peerfilter"
)

// TestFastPath relays a call whose two legs are allocations on the same
// super-node (as with two relayed ICE candidates) and a leg to an outside
// peer, with the fast path on and off: the payloads arrive unaltered both
// ways, every packet is counted on each allocation it crosses, and only
// the fast path hands packets between the two allocations in process.
func TestFastPath(t *testing.T) {
	tests := []struct {
		name       string
		noFastPath bool
		wantHanded bool
	}{
		{"fast", false, true},
		{"kernel", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			cfg := testConfig()
			cfg.AllowedPeerRanges = peerfilter.NewRanges("127.0.0.0/8")
			r := startRelay(t, w, cfg, Options{TestSameHostPeers: true, NoFastPath: tt.noFastPath})
			ca, cb := credsFor(t, w, r, "alice"), credsFor(t, w, r, "bob")
			a, err := allocate(t, r, ca.Username, ca.Password)
			if err != nil {
				t.Fatal(err)
			}
			b, err := allocate(t, r, cb.Username, cb.Password)
			if err != nil {
				t.Fatal(err)
			}
			before := r.Stats()
			// Both legs on this relay: alice -> bob's relayed address and back.
			const rounds = 20
			got := 0
			buf := make([]byte, 1600)
			deadline := time.Now().Add(5 * time.Second)
			for i := 0; got < rounds && time.Now().Before(deadline); i++ {
				from, to := a, b
				if i%2 == 1 {
					from, to = b, a
				}
				msg := []byte{byte(i), 'v', 'o', 'i', 'c', 'e'}
				if _, err := from.relay.WriteTo(msg, to.relay.LocalAddr()); err != nil {
					t.Fatal(err)
				}
				to.relay.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				n, src, err := to.relay.ReadFrom(buf)
				if err != nil {
					continue
				}
				if !bytes.Equal(buf[:n], msg) || src.String() != from.relay.LocalAddr().String() {
					t.Fatalf("got %q from %v, want %q from %v", buf[:n], src, msg, from.relay.LocalAddr())
				}
				got++
			}
			if got < rounds {
				t.Fatalf("%d of %d packets crossed the relay in 5s", got, rounds)
			}
			for _, x := range []*allocation{a, b} {
				peer := a.relay.LocalAddr()
				if x == a {
					peer = b.relay.LocalAddr()
				}
				if err := x.waitChannelBound(peer); err != nil {
					t.Fatal(err)
				}
			}
			// Once both channels are bound, a burst goes the channel way.
			for i := 0; i < rounds; i++ {
				if _, err := a.relay.WriteTo([]byte("burst"), b.relay.LocalAddr()); err != nil {
					t.Fatal(err)
				}
				b.relay.SetReadDeadline(time.Now().Add(time.Second))
				if _, _, err := b.relay.ReadFrom(buf); err != nil {
					t.Fatalf("burst packet %d: %v", i, err)
				}
			}
			// A leg to an outside peer keeps working both ways.
			peer := udpSocket(t, "127.0.0.2")
			if err := roundTrip(t, a, peer, []byte("outside")); err != nil {
				t.Fatal(err)
			}
			after := r.Stats()
			packets := after.PacketsRelayed - before.PacketsRelayed
			if packets < 2*2*rounds {
				t.Errorf("relayed %d packet legs for %d packets that crossed two allocations each", packets, 2*rounds)
			}
			handed := after.PacketsHanded - before.PacketsHanded
			if tt.wantHanded != (handed >= rounds) {
				t.Errorf("%d packets handed in process, want at least %d: %v", handed, rounds, tt.wantHanded)
			}
			if !tt.wantHanded && handed != 0 {
				t.Errorf("%d packets handed in process with the fast path off", handed)
			}
		})
	}
}

// TestFastPathOwnPort: ChannelData from a client to one of the
// super-node's own ports that is no relay socket is dropped and counted,
// on the fast path as on pion's.
func TestFastPathOwnPort(t *testing.T) {
	w := newWorld(t)
	cfg := testConfig()
	cfg.AllowedPeerRanges = peerfilter.NewRanges("127.0.0.0/8")
	r := startRelay(t, w, cfg, Options{})
	c := credsFor(t, w, r, "alice")
	a, err := allocate(t, r, c.Username, c.Password)
	if err != nil {
		t.Fatal(err)
	}
	victim := udpSocket(t, "127.0.0.1") // a service of the super-node's host
	for i := 0; i < 10; i++ {
		if _, err := a.relay.WriteTo([]byte("x"), victim.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = a.waitChannelBound(victim.LocalAddr())
	victim.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, from, err := victim.ReadFrom(make([]byte, 64)); err == nil {
		t.Fatalf("the host's own port received a relayed packet from %v", from)
	}
	if d := r.Stats().Dropped[DroppedPeerForbidden]; d == 0 {
		t.Errorf("no packet counted as dropped (peer_forbidden); refused: %v", r.Stats().Refused)
	}
}
