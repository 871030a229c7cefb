package peerfilter

import (
	"net"
	"net/netip"
	"testing"
)

func TestPeerFilterClassify(t *testing.T) {
	relayIP := net.IPv4(127, 0, 0, 3)
	own := []net.IP{net.IPv4(127, 0, 0, 1), net.ParseIP("203.0.113.5")}
	byDefault := New([]netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, nil, relayIP, relayIP, own)
	lab := New([]netip.Prefix{netip.MustParsePrefix("198.18.0.0/15")}, nil, relayIP, relayIP, own)
	everything := New([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, nil, relayIP, relayIP, own)
	tests := []struct {
		ip   string
		f    *Filter
		kind Kind // "" = allowed
	}{
		{"8.8.8.8", byDefault, ""},
		{"2001:4860:4860::8888", byDefault, ""},
		{"127.0.0.2", byDefault, ""}, // allowed on purpose
		{"127.0.0.3", byDefault, ""}, // the relayed address: data is checked per port
		{"127.0.0.1", byDefault, Self},
		{"203.0.113.5", byDefault, Self},
		{"127.0.0.9", byDefault, Loopback},
		{"::1", byDefault, Loopback},
		{"10.0.0.1", byDefault, Private},
		{"172.31.255.1", byDefault, Private},
		{"192.168.1.1", byDefault, Private},
		{"fc00::1", byDefault, Private},
		{"fd00:ec2::254", byDefault, Private}, // a cloud metadata service over IPv6
		{"169.254.169.254", byDefault, LinkLocal},
		{"fe80::1", byDefault, LinkLocal},
		{"100.64.0.1", byDefault, CGNAT},
		{"224.0.0.1", byDefault, Multicast},
		{"239.255.255.250", byDefault, Multicast},
		{"ff02::1", byDefault, Multicast},
		{"255.255.255.255", byDefault, Broadcast},
		{"0.0.0.0", byDefault, Unspecified},
		{"::", byDefault, Unspecified},
		{"0.1.2.3", byDefault, ThisNetwork},
		{"240.0.0.1", byDefault, Reserved},
		{"198.18.0.1", byDefault, Reserved},
		{"192.0.2.1", byDefault, Reserved},
		{"2001:db8::1", byDefault, Reserved},
		{"::ffff:10.0.0.1", byDefault, Private},           // IPv4-mapped
		{"64:ff9b::a9fe:a9fe", byDefault, LinkLocal},      // NAT64 of 169.254.169.254
		{"2002:7f00:1::", byDefault, Self},                // 6to4 of 127.0.0.1
		{"2002:7f00:3::", byDefault, Self},                // 6to4 of the relayed address: never through a tunnel
		{"2002:808:808::", byDefault, ""},                 // 6to4 of 8.8.8.8
		{"198.18.0.20", lab, ""},                          // the lab's range
		{"198.20.0.1", lab, ""},                           // public, outside it
		{"10.0.0.1", everything, ""},                      // opened on purpose
		{"169.254.169.254", everything, ""},               // (as the administrator wished)
		{"224.0.0.1", everything, Multicast},              // never a peer
		{"255.255.255.255", everything, Broadcast},        // never a peer
		{"127.0.0.1", everything, Self},                   // never a peer
		{"0.0.0.0", everything, Unspecified},              // never a peer
		{"64:ff9b::7f00:1", everything, Self},             // never, even through NAT64
		{"::ffff:255.255.255.255", everything, Broadcast}, // nor mapped
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			kind, ok := tt.f.Permit(net.ParseIP(tt.ip))
			if ok != (tt.kind == "") || (!ok && kind != tt.kind) {
				t.Fatalf("permit(%s) = %q, %v; want kind %q (\"\" = allowed)", tt.ip, kind, ok, tt.kind)
			}
		})
	}
}

// BenchmarkPeerFilter measures the permission check (once per
// CreatePermission/ChannelBind) and the per-datagram own-address check.
//
//	go test -run '^$' -bench BenchmarkPeerFilter ./relay/peerfilter/
func BenchmarkPeerFilter(b *testing.B) {
	relayIP := net.IPv4(127, 0, 0, 3)
	f := New([]netip.Prefix{netip.MustParsePrefix("198.18.0.0/15")}, nil, relayIP, relayIP, []net.IP{net.IPv4(127, 0, 0, 1)})
	b.Run("permit/public", func(b *testing.B) {
		ip := net.ParseIP("8.8.8.8")
		for range b.N {
			if _, ok := f.Permit(ip); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("permit/metadata", func(b *testing.B) {
		ip := net.ParseIP("169.254.169.254")
		for range b.N {
			if _, ok := f.Permit(ip); ok {
				b.Fatal("allowed")
			}
		}
	})
	b.Run("datagram/isSelf", func(b *testing.B) {
		addr := &net.UDPAddr{IP: net.ParseIP("8.8.8.8"), Port: 5000}
		for range b.N {
			if _, self := f.IsSelf(addr); self {
				b.Fatal("self")
			}
		}
	})
}
