package relay

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/pion/stun/v4"
	"github.com/prometheus/client_golang/prometheus"
)

func TestPeerFilterClassify(t *testing.T) {
	relayIP := net.IPv4(127, 0, 0, 3)
	own := []net.IP{net.IPv4(127, 0, 0, 1), net.ParseIP("203.0.113.5")}
	byDefault := newPeerFilter([]netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, nil, relayIP, relayIP, own)
	lab := newPeerFilter([]netip.Prefix{netip.MustParsePrefix("198.18.0.0/15")}, nil, relayIP, relayIP, own)
	everything := newPeerFilter([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, nil, relayIP, relayIP, own)
	tests := []struct {
		ip   string
		f    *peerFilter
		kind PeerKind // "" = allowed
	}{
		{"8.8.8.8", byDefault, ""},
		{"2001:4860:4860::8888", byDefault, ""},
		{"127.0.0.2", byDefault, ""}, // allowed on purpose
		{"127.0.0.3", byDefault, ""}, // the relayed address: data is checked per port
		{"127.0.0.1", byDefault, PeerSelf},
		{"203.0.113.5", byDefault, PeerSelf},
		{"127.0.0.9", byDefault, PeerLoopback},
		{"::1", byDefault, PeerLoopback},
		{"10.0.0.1", byDefault, PeerPrivate},
		{"172.31.255.1", byDefault, PeerPrivate},
		{"192.168.1.1", byDefault, PeerPrivate},
		{"fc00::1", byDefault, PeerPrivate},
		{"fd00:ec2::254", byDefault, PeerPrivate}, // a cloud metadata service over IPv6
		{"169.254.169.254", byDefault, PeerLinkLocal},
		{"fe80::1", byDefault, PeerLinkLocal},
		{"100.64.0.1", byDefault, PeerCGNAT},
		{"224.0.0.1", byDefault, PeerMulticast},
		{"239.255.255.250", byDefault, PeerMulticast},
		{"ff02::1", byDefault, PeerMulticast},
		{"255.255.255.255", byDefault, PeerBroadcast},
		{"0.0.0.0", byDefault, PeerUnspecified},
		{"::", byDefault, PeerUnspecified},
		{"0.1.2.3", byDefault, PeerThisNetwork},
		{"240.0.0.1", byDefault, PeerReserved},
		{"198.18.0.1", byDefault, PeerReserved},
		{"192.0.2.1", byDefault, PeerReserved},
		{"2001:db8::1", byDefault, PeerReserved},
		{"::ffff:10.0.0.1", byDefault, PeerPrivate},           // IPv4-mapped
		{"64:ff9b::a9fe:a9fe", byDefault, PeerLinkLocal},      // NAT64 of 169.254.169.254
		{"2002:7f00:1::", byDefault, PeerSelf},                // 6to4 of 127.0.0.1
		{"2002:7f00:3::", byDefault, PeerSelf},                // 6to4 of the relayed address: never through a tunnel
		{"2002:808:808::", byDefault, ""},                     // 6to4 of 8.8.8.8
		{"198.18.0.20", lab, ""},                              // the lab's range
		{"198.20.0.1", lab, ""},                               // public, outside it
		{"10.0.0.1", everything, ""},                          // opened on purpose
		{"169.254.169.254", everything, ""},                   // (as the administrator wished)
		{"224.0.0.1", everything, PeerMulticast},              // never a peer
		{"255.255.255.255", everything, PeerBroadcast},        // never a peer
		{"127.0.0.1", everything, PeerSelf},                   // never a peer
		{"0.0.0.0", everything, PeerUnspecified},              // never a peer
		{"64:ff9b::7f00:1", everything, PeerSelf},             // never, even through NAT64
		{"::ffff:255.255.255.255", everything, PeerBroadcast}, // nor mapped
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			kind, ok := tt.f.permit(net.ParseIP(tt.ip))
			if ok != (tt.kind == "") || (!ok && kind != tt.kind) {
				t.Fatalf("permit(%s) = %q, %v; want kind %q (\"\" = allowed)", tt.ip, kind, ok, tt.kind)
			}
		})
	}
}

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
		kind PeerKind
	}{
		{"the super-node's host", hostService.LocalAddr(), PeerSelf},
		{"cloud metadata", &net.UDPAddr{IP: net.ParseIP("169.254.169.254"), Port: 80}, PeerLinkLocal},
		{"RFC 1918", &net.UDPAddr{IP: net.ParseIP("10.0.0.1"), Port: 53}, PeerPrivate},
		{"multicast", &net.UDPAddr{IP: net.ParseIP("224.0.0.1"), Port: 5353}, PeerMulticast},
		{"broadcast", &net.UDPAddr{IP: net.IPv4bcast, Port: 9}, PeerBroadcast},
		{"CGNAT", &net.UDPAddr{IP: net.ParseIP("100.64.0.1"), Port: 9}, PeerCGNAT},
		{"loopback", &net.UDPAddr{IP: net.ParseIP("127.0.0.9"), Port: 9}, PeerLoopback},
		{"this network", &net.UDPAddr{IP: net.ParseIP("0.0.0.1"), Port: 9}, PeerThisNetwork},
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
				s.PeerForbidden[PeerSelf] >= before.PeerForbidden[PeerSelf]+6
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
		kind PeerKind
	}{{"fe80::1", PeerLinkLocal}, {"fc00::1", PeerPrivate}, {"ff02::1", PeerMulticast}, {"64:ff9b::a00:1", PeerPrivate}} {
		before := r.Stats().PeerForbidden[tt.kind]
		err := a.client.CreatePermission(&net.UDPAddr{IP: net.ParseIP(tt.ip), Port: 9})
		var te *stun.TurnError
		if !errors.As(err, &te) || te.ErrorCodeAttr.Code != stun.CodeForbidden || r.Stats().PeerForbidden[tt.kind] != before+1 {
			t.Errorf("CreatePermission([%s]) = %v (kind %s counted %d -> %d), want 403 counted", tt.ip, err, tt.kind, before, r.Stats().PeerForbidden[tt.kind])
		}
	}
	service := udpSocket(t, "::1")
	before := r.Stats().PeerForbidden[PeerSelf]
	for range 3 {
		if _, err := a.relay.WriteTo([]byte("to [::1]"), service.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	quiet(t, service, "a service on [::1]")
	eventually(t, "datagrams to [::1] counted", func() bool { return r.Stats().PeerForbidden[PeerSelf] >= before+3 })
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

// BenchmarkPeerFilter measures the permission check (once per
// CreatePermission/ChannelBind) and the per-datagram own-address check.
//
//	go test -run '^$' -bench BenchmarkPeerFilter ./relay/
func BenchmarkPeerFilter(b *testing.B) {
	relayIP := net.IPv4(127, 0, 0, 3)
	f := newPeerFilter([]netip.Prefix{netip.MustParsePrefix("198.18.0.0/15")}, nil, relayIP, relayIP, []net.IP{net.IPv4(127, 0, 0, 1)})
	b.Run("permit/public", func(b *testing.B) {
		ip := net.ParseIP("8.8.8.8")
		for range b.N {
			if _, ok := f.permit(ip); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("permit/metadata", func(b *testing.B) {
		ip := net.ParseIP("169.254.169.254")
		for range b.N {
			if _, ok := f.permit(ip); ok {
				b.Fatal("allowed")
			}
		}
	})
	b.Run("datagram/isSelf", func(b *testing.B) {
		addr := &net.UDPAddr{IP: net.ParseIP("8.8.8.8"), Port: 5000}
		for range b.N {
			if _, self := f.isSelf(addr); self {
				b.Fatal("self")
			}
		}
	})
}

// TestSameHostPeers: with Options.TestSameHostPeers (and the loopback
// range allowed) a relay reaches a peer on its own 127.0.0.1, as node
// tests that run every node on one host need.
func TestSameHostPeers(t *testing.T) {
	w := newWorld(t)
	cfg := testConfig()
	cfg.AllowedPeerRanges = NewPeerRanges("127.0.0.0/8")
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
