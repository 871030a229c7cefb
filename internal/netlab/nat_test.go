package netlab

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestNATMapping checks the mapping behaviour of each NAT kind: one LAN
// socket talks to three servers (two addresses, two ports on one of them)
// and the servers report the external address:port they saw.
func TestNATMapping(t *testing.T) {
	tests := []struct {
		nat NAT
		// sameMapping: every server sees the same external port
		// (endpoint-independent mapping); otherwise all differ.
		sameMapping bool
		// preserved: the external port is the socket's own port.
		preserved bool
	}{
		{ConeNAT, true, true},
		{SymmetricNAT, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.nat.String(), func(t *testing.T) {
			lab := New(t)
			inet := lab.Internet()
			s1 := lab.Host("s1", inet)
			s2 := lab.Host("s2", inet)
			nat := lab.Router("nat", inet, tt.nat)
			alice := lab.Host("alice", nat.LAN())
			echo(t, s1, []int{7000, 7001}, nil)
			echo(t, s2, []int{7000}, nil)

			c := listenUDP(t, alice, 0)
			local := c.LocalAddr().(*net.UDPAddr).Port
			var seen []netip.AddrPort
			for _, to := range []netip.AddrPort{ap(s1.Addr(), 7000), ap(s2.Addr(), 7000), ap(s1.Addr(), 7001)} {
				got, err := askUDP(c, to, answerWait)
				if err != nil {
					t.Fatalf("alice to %s: %v", to, err)
				}
				if got.Addr() != nat.Addr() {
					t.Errorf("%s saw alice as %s, want the NAT's address %s", to, got, nat.Addr())
				}
				seen = append(seen, got)
			}
			t.Logf("%v: local port %d, seen as %v", tt.nat, local, seen)
			ports := map[uint16]bool{}
			for _, s := range seen {
				ports[s.Port()] = true
			}
			if tt.sameMapping && len(ports) != 1 {
				t.Errorf("%v gave one socket external ports %v for three destinations, want one port", tt.nat, seen)
			}
			if !tt.sameMapping && len(ports) != len(seen) {
				t.Errorf("%v gave one socket external ports %v for three destinations, want three different ports", tt.nat, seen)
			}
			if tt.preserved && seen[0].Port() != uint16(local) {
				t.Errorf("%v mapped local port %d to %d, want it kept", tt.nat, local, seen[0].Port())
			}
		})
	}
}

// TestNATFiltering checks that both NAT kinds filter by address and port:
// after alice talks to s1:7000, only s1:7000 can reach her mapping.
func TestNATFiltering(t *testing.T) {
	for _, kind := range []NAT{ConeNAT, SymmetricNAT} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel() // each waits for silence
			lab := New(t)
			inet := lab.Internet()
			s1 := lab.Host("s1", inet)
			s2 := lab.Host("s2", inet)
			nat := lab.Router("nat", inet, kind)
			alice := lab.Host("alice", nat.LAN())
			echo(t, s1, []int{7000}, nil)

			c := listenUDP(t, alice, 0)
			mapped, err := askUDP(c, ap(s1.Addr(), 7000), answerWait)
			if err != nil {
				t.Fatalf("alice to s1: %v", err)
			}
			tests := []struct {
				name string
				from *Host
				port int
				want bool
			}{
				{"s1 from another port", s1, 7002, false},
				{"s2, never contacted", s2, 7000, false},
			}
			for _, f := range tests {
				sender := listenUDP(t, f.from, f.port)
				for i := 0; i < 3; i++ {
					if _, err := sender.WriteToUDPAddrPort([]byte("knock"), mapped); err != nil {
						t.Fatalf("%s: send to %s: %v", f.name, mapped, err)
					}
				}
				if got := receives(c, ap(f.from.Addr(), f.port), wait(f.want)); got != f.want {
					t.Errorf("%v: %s to alice's mapping %s: received=%v, want %v", kind, f.name, mapped, got, f.want)
				}
			}
		})
	}
}

// TestHolePunch punches UDP holes between two LAN hosts behind NATs, the way
// ICE does: each learns its mapping from a server, then both send to the
// other's mapping, either at once or alice a while before bob (her first
// packet reaches bob's NAT before bob has sent anything: the case a router
// without an INPUT drop gets wrong, see configureFilter).
func TestHolePunch(t *testing.T) {
	tests := []struct {
		a, b NAT
		want bool
	}{
		{ConeNAT, ConeNAT, true},
		{ConeNAT, SymmetricNAT, false},
		{SymmetricNAT, SymmetricNAT, false},
	}
	for _, tt := range tests {
		for _, aliceFirst := range []bool{false, true} {
			order := "at once"
			if aliceFirst {
				order = "alice first"
			}
			t.Run(fmt.Sprintf("%v-%v %s", tt.a, tt.b, order), func(t *testing.T) {
				t.Parallel() // each waits for silence
				lab := New(t)
				inet := lab.Internet()
				stun := lab.Host("stun", inet)
				ra := lab.Router("ra", inet, tt.a)
				rb := lab.Router("rb", inet, tt.b)
				alice := lab.Host("alice", ra.LAN())
				bob := lab.Host("bob", rb.LAN())
				echo(t, stun, []int{3478}, nil)

				ca, cb := listenUDP(t, alice, 0), listenUDP(t, bob, 0)
				ma, err := askUDP(ca, ap(stun.Addr(), 3478), answerWait)
				if err != nil {
					t.Fatal(err)
				}
				mb, err := askUDP(cb, ap(stun.Addr(), 3478), answerWait)
				if err != nil {
					t.Fatal(err)
				}
				if aliceFirst {
					ca.WriteToUDPAddrPort([]byte("punch"), mb)
					time.Sleep(100 * time.Millisecond)
				}
				// A few checks each way, as ICE sends; then each must
				// hear the other.
				for i := 0; i < 5; i++ {
					ca.WriteToUDPAddrPort([]byte("punch"), mb)
					cb.WriteToUDPAddrPort([]byte("punch"), ma)
					time.Sleep(20 * time.Millisecond)
				}
				gotA := receives(ca, mb, wait(tt.want))
				gotB := receives(cb, ma, wait(tt.want))
				if (gotA && gotB) != tt.want {
					t.Errorf("behind %v and %v: alice heard bob=%v, bob heard alice=%v; want a hole both ways=%v", tt.a, tt.b, gotA, gotB, tt.want)
					logConntrack(t, ra, rb)
				}
			})
		}
	}
}

// logConntrack logs the conntrack tables of routers, to see what a NAT did.
func logConntrack(t *testing.T, routers ...*Router) {
	t.Helper()
	for _, r := range routers {
		out, err := run("ip", "netns", "exec", r.Namespace(), "cat", "/proc/net/nf_conntrack")
		t.Logf("conntrack of %s (%v):\n%s", r, err, out)
	}
}

// TestMappingTimeout checks MappingTimeout: a server can answer a LAN
// socket's mapping while it is fresh, and no longer once it has been idle
// longer than the timeout.
func TestMappingTimeout(t *testing.T) {
	lab := New(t)
	inet := lab.Internet()
	s := lab.Host("s", inet)
	nat := lab.Router("nat", inet, ConeNAT, MappingTimeout(2*time.Second))
	alice := lab.Host("alice", nat.LAN())
	srv := listenUDP(t, s, 7000)

	tests := []struct {
		idle time.Duration
		want bool
	}{
		{300 * time.Millisecond, true},
		{3500 * time.Millisecond, false},
	}
	for _, tt := range tests {
		c := listenUDP(t, alice, 0)
		if _, err := c.WriteToUDPAddrPort([]byte("hello"), ap(s.Addr(), 7000)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		_ = srv.SetReadDeadline(time.Now().Add(answerWait))
		_, mapped, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("s never heard alice: %v", err)
		}
		time.Sleep(tt.idle)
		for i := 0; i < 3; i++ {
			if _, err := srv.WriteToUDPAddrPort([]byte("late"), mapped); err != nil {
				t.Fatal(err)
			}
		}
		if got := receives(c, ap(s.Addr(), 7000), wait(tt.want)); got != tt.want {
			t.Errorf("s answered alice's mapping %s after %v idle (timeout 2s): received=%v, want %v", mapped, tt.idle, got, tt.want)
		}
	}
}
