package relay

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/relay/peerfilter"

	"github.com/BurntSushi/toml"
	"github.com/pion/stun/v4"
	"github.com/prometheus/client_golang/prometheus"
)

func TestPeerRangesTOML(t *testing.T) {
	var c struct {
		Relay Config `toml:"relay"`
	}
	c.Relay = DefaultConfig()
	if _, err := toml.Decode("[relay]\nallowed_peer_ranges = [\"198.18.0.0/15\", \"2001:db8::/32\"]\n", &c); err != nil {
		t.Fatal(err)
	}
	if got := c.Relay.AllowedPeerRanges.Strings(); len(got) != 2 || got[0] != "198.18.0.0/15" || got[1] != "2001:db8::/32" {
		t.Fatalf("decoded %q", got)
	}
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(c); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Relay Config `toml:"relay"`
	}
	if _, err := toml.Decode(b.String(), &back); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if back.Relay != c.Relay {
		t.Fatalf("round trip: %+v, want %+v", back.Relay, c.Relay)
	}
	// No ranges: the key is left out, and decodes back to none.
	b.Reset()
	c.Relay = DefaultConfig()
	if err := toml.NewEncoder(&b).Encode(c); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "allowed_peer_ranges") {
		t.Fatalf("empty ranges encoded:\n%s", b.String())
	}
	for _, bad := range []string{"allowed_peer_ranges = \"10.0.0.0/8\"", "allowed_peer_ranges = [1]"} {
		if _, err := toml.Decode("[relay]\n"+bad+"\n", &back); err == nil || !strings.Contains(err.Error(), "allowed_peer_ranges") {
			t.Errorf("%s: %v, want an error naming the key", bad, err)
		}
	}
}

// TestPeerForbidden: a registered user's allocation on a relay at
// 127.0.0.3 asks for permissions to the relay's own host, the cloud
// metadata address, private, multicast, broadcast, CGNAT and loopback
// addresses: each is refused with 403 and counted (Stats and Prometheus)
// under peer_forbidden and its kind; a ChannelBind and a Send indication
// to a UDP service on 127.0.0.1 reach nothing; datagrams to the relay's
// own address reach only another allocation (two clients of one
// super-node relay to each other), never a service or the TURN port; and
// the allowed 127.0.0.2 relays both ways.
func TestPeerForbidden(t *testing.T) {
	w := newWorld(t)
	reg := prometheus.NewRegistry()
	tr, err := NewPrometheusTracer(reg)
	if err != nil {
		t.Fatal(err)
	}
	relayIP := "127.0.0.3"
	r := startRelay(t, w, testConfig(), Options{ListenIP: net.ParseIP(relayIP), Tracer: tr})
	creds := credsFor(t, w, r, "mallory")
	a, err := allocate(t, r, creds.Username, creds.Password)
	if err != nil {
		t.Fatal(err)
	}
	hostService := udpSocket(t, "127.0.0.1") // a UDP service of the super-node's host
	relayService := udpSocket(t, relayIP)    // one on the relay's own address
	tests := []struct {
		name string
		addr net.Addr
		kind peerfilter.Kind
	}{
		{"the super-node's host", hostService.LocalAddr(), peerfilter.Self},
		{"cloud metadata", &net.UDPAddr{IP: net.ParseIP("169.254.169.254"), Port: 80}, peerfilter.LinkLocal},
		{"RFC 1918", &net.UDPAddr{IP: net.ParseIP("10.0.0.1"), Port: 53}, peerfilter.Private},
		{"multicast", &net.UDPAddr{IP: net.ParseIP("224.0.0.1"), Port: 5353}, peerfilter.Multicast},
		{"broadcast", &net.UDPAddr{IP: net.IPv4bcast, Port: 9}, peerfilter.Broadcast},
		{"CGNAT", &net.UDPAddr{IP: net.ParseIP("100.64.0.1"), Port: 9}, peerfilter.CGNAT},
		{"loopback", &net.UDPAddr{IP: net.ParseIP("127.0.0.9"), Port: 9}, peerfilter.Loopback},
		{"this network", &net.UDPAddr{IP: net.ParseIP("0.0.0.1"), Port: 9}, peerfilter.ThisNetwork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := r.Stats()
			err := a.client.CreatePermission(tt.addr)
			var te *stun.TurnError
			if !errors.As(err, &te) || te.ErrorCodeAttr.Code != stun.CodeForbidden {
				t.Fatalf("CreatePermission(%v) = %v, want 403 Forbidden", tt.addr, err)
			}
			after := r.Stats()
			if after.Refused[RefusedPeerForbidden] != before.Refused[RefusedPeerForbidden]+1 ||
				after.PeerForbidden[tt.kind] != before.PeerForbidden[tt.kind]+1 {
				t.Fatalf("refusals %d -> %d, kind %s %d -> %d; want one more of each", before.Refused[RefusedPeerForbidden],
					after.Refused[RefusedPeerForbidden], tt.kind, before.PeerForbidden[tt.kind], after.PeerForbidden[tt.kind])
			}
			if got, ok := gatheredLabel(t, reg, "peercall_relay_peer_forbidden_total", "kind", string(tt.kind)); !ok || got != float64(after.PeerForbidden[tt.kind]) {
				t.Fatalf("peercall_relay_peer_forbidden_total{kind=%q} = %v (found %v), want %d", tt.kind, got, ok, after.PeerForbidden[tt.kind])
			}
		})
	}
	t.Run("IPv6 loopback on an IPv4 allocation", func(t *testing.T) {
		if err := a.client.CreatePermission(&net.UDPAddr{IP: net.IPv6loopback, Port: 9}); err == nil {
			t.Fatal("permission to [::1] granted")
		}
	})
	t.Run("pion client's WriteTo", func(t *testing.T) {
		if _, err := a.relay.WriteTo([]byte("to the host"), hostService.LocalAddr()); err == nil {
			t.Fatal("WriteTo the host's service succeeded")
		}
		quiet(t, hostService, "after WriteTo")
	})
	t.Run("ChannelBind and Send", func(t *testing.T) {
		raw := rawAllocate(t, r, creds, 0)
		before := r.Stats().Refused[RefusedPeerForbidden]
		_, err := raw.request(stun.MethodChannelBind, peerAddr(*hostService.LocalAddr().(*net.UDPAddr)),
			stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{0x40, 0x00, 0, 0}})
		var te *stun.TurnError
		if !errors.As(err, &te) {
			t.Fatalf("ChannelBind to the host's service: %v, want an error answer", err)
		}
		if after := r.Stats().Refused[RefusedPeerForbidden]; after != before+1 {
			t.Fatalf("ChannelBind refusal not counted: %d -> %d", before, after)
		}
		for range 3 {
			raw.indicate(stun.MethodSend, peerAddr(*hostService.LocalAddr().(*net.UDPAddr)),
				stun.RawAttribute{Type: stun.AttrData, Value: []byte("send indication")})
		}
		quiet(t, hostService, "after Send indications")
	})
	t.Run("the relay's own address", func(t *testing.T) {
		before := r.Stats()
		targets := []net.Addr{relayService.LocalAddr(), r.Addrs().UDP}
		for _, to := range targets {
			for range 3 {
				if _, err := a.relay.WriteTo([]byte("to the relay's host"), to); err != nil {
					t.Fatalf("WriteTo %v: %v", to, err)
				}
			}
		}
		quiet(t, relayService, "a service on the relay's address")
		eventually(t, "datagrams to the relay's own ports dropped and counted", func() bool {
			s := r.Stats()
			return s.Dropped[DroppedPeerForbidden] >= before.Dropped[DroppedPeerForbidden]+6 &&
				s.PeerForbidden[peerfilter.Self] >= before.PeerForbidden[peerfilter.Self]+6
		})
		if s := r.Stats(); s.Sessions != 2 { // a and the raw one: nothing nested through the TURN port
			t.Fatalf("%d sessions, want 2", s.Sessions)
		}
	})
	t.Run("allowed peer", func(t *testing.T) {
		if err := roundTrip(t, a, udpPeer(t), []byte("to the allowed peer")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("another allocation on the same relay", func(t *testing.T) {
		bc := credsFor(t, w, r, "bob")
		b, err := allocate(t, r, bc.Username, bc.Password)
		if err != nil {
			t.Fatal(err)
		}
		// b opens its permission for a's relayed address, then a and b
		// relay to each other: the relay's own address, on a relay port.
		buf := make([]byte, 100)
		for i := 0; ; i++ {
			if i == 25 {
				t.Fatal("b's datagrams do not reach a")
			}
			if _, err := b.relay.WriteTo([]byte("hello a"), a.relay.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			_ = a.relay.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if n, _, err := a.relay.ReadFrom(buf); err == nil && string(buf[:n]) == "hello a" {
				break
			}
		}
		for { // the hellos still on their way
			_ = a.relay.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, _, err := a.relay.ReadFrom(buf); err != nil {
				break
			}
		}
		if err := roundTrip(t, a, b.relay, []byte("relay to relay")); err != nil {
			t.Fatal(err)
		}
		if err := b.waitChannelBound(a.relay.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPeerForbiddenIPv6 is TestPeerForbidden's IPv6 half, on a relay at
// [::1]: link-local, ULA, multicast and NAT64-wrapped private peers are
// refused, and datagrams to a service on [::1] (the relay's own address)
// are dropped.
func TestPeerForbiddenIPv6(t *testing.T) {
	probe, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("needs IPv6 loopback [::1]: %v", err)
	}
	probe.Close()
	w := newWorld(t)
	r := startRelay(t, w, testConfig(), Options{ListenIP: net.IPv6loopback})
	creds := credsFor(t, w, r, "mallory")
	a, err := allocate(t, r, creds.Username, creds.Password)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ip   string
		kind peerfilter.Kind
	}{{"fe80::1", peerfilter.LinkLocal}, {"fc00::1", peerfilter.Private}, {"ff02::1", peerfilter.Multicast}, {"64:ff9b::a00:1", peerfilter.Private}} {
		before := r.Stats().PeerForbidden[tt.kind]
		err := a.client.CreatePermission(&net.UDPAddr{IP: net.ParseIP(tt.ip), Port: 9})
		var te *stun.TurnError
		if !errors.As(err, &te) || te.ErrorCodeAttr.Code != stun.CodeForbidden || r.Stats().PeerForbidden[tt.kind] != before+1 {
			t.Errorf("CreatePermission([%s]) = %v (kind %s counted %d -> %d), want 403 counted", tt.ip, err, tt.kind, before, r.Stats().PeerForbidden[tt.kind])
		}
	}
	service := udpSocket(t, "::1")
	before := r.Stats().PeerForbidden[peerfilter.Self]
	for range 3 {
		if _, err := a.relay.WriteTo([]byte("to [::1]"), service.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	quiet(t, service, "a service on [::1]")
	eventually(t, "datagrams to [::1] counted", func() bool { return r.Stats().PeerForbidden[peerfilter.Self] >= before+3 })
}

// gatheredLabel reads one counter or gauge with label=value from reg.
func gatheredLabel(t *testing.T, reg *prometheus.Registry, name, label, value string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					if m.Counter != nil {
						return m.Counter.GetValue(), true
					}
					return m.Gauge.GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// TestSameHostPeers: with Options.TestSameHostPeers (and the loopback
// range allowed) a relay reaches a peer on its own 127.0.0.1, as node
// tests that run every node on one host need.
func TestSameHostPeers(t *testing.T) {
	w := newWorld(t)
	cfg := testConfig()
	cfg.AllowedPeerRanges = peerfilter.NewRanges("127.0.0.0/8")
	r := startRelay(t, w, cfg, Options{TestSameHostPeers: true})
	c := credsFor(t, w, r, "alice")
	a, err := allocate(t, r, c.Username, c.Password)
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(t, a, udpSocket(t, "127.0.0.1"), []byte("same host")); err != nil {
		t.Fatal(err)
	}
}
