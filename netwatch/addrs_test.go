package netwatch_test

import (
	"net/netip"
	"slices"
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/netwatch"
)

func snap(addrs ...string) netwatch.Snapshot {
	var s netwatch.Snapshot
	for _, a := range addrs {
		s = append(s, netip.MustParseAddr(a))
	}
	slices.SortFunc(s, netip.Addr.Compare)
	return s
}

func mas(addrs ...string) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range addrs {
		out = append(out, ma.StringCast(a))
	}
	return out
}

func TestFreshAddrs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in, listen []ma.Multiaddr
		snap       netwatch.Snapshot
		want       []string
	}{
		{"a gone private address is dropped, the new one added",
			mas("/ip4/192.168.1.5/tcp/4001"), mas("/ip4/0.0.0.0/tcp/4001"), snap("127.0.0.1", "10.0.0.7"),
			[]string{"/ip4/10.0.0.7/tcp/4001"}},
		{"public (observed) and circuit addresses stay",
			mas("/ip4/93.184.216.34/tcp/4001", "/ip4/198.51.100.1/tcp/4001/p2p/12D3KooWGRUVh3bNw5ZJe5kr2gaA6aEWMKdUmTJUbw8UEGaxS2Ah/p2p-circuit"),
			nil, snap("10.0.0.7"),
			[]string{"/ip4/93.184.216.34/tcp/4001", "/ip4/198.51.100.1/tcp/4001/p2p/12D3KooWGRUVh3bNw5ZJe5kr2gaA6aEWMKdUmTJUbw8UEGaxS2Ah/p2p-circuit"}},
		{"loopback stays, and is expanded when there was some",
			mas("/ip4/127.0.0.1/tcp/4001"), mas("/ip4/0.0.0.0/tcp/4001"), snap("127.0.0.1", "10.0.0.7"),
			[]string{"/ip4/127.0.0.1/tcp/4001", "/ip4/10.0.0.7/tcp/4001", "/ip4/127.0.0.1/tcp/4001"}},
		{"a specific listen address is not expanded",
			mas("/ip4/10.0.0.7/tcp/4001"), mas("/ip4/10.0.0.7/tcp/4001"), snap("10.0.0.7", "10.0.0.8"),
			[]string{"/ip4/10.0.0.7/tcp/4001"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, a := range netwatch.FreshAddrs(tc.in, tc.listen, tc.snap) {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("FreshAddrs = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestListenIPs(t *testing.T) {
	for _, tc := range []struct {
		listen []ma.Multiaddr
		want   []string
	}{
		{mas("/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/udp/1/quic-v1"), []string{"127.0.0.1", "127.0.0.1"}},
		{mas("/ip4/10.0.0.7/tcp/1", "/ip4/0.0.0.0/udp/1/quic-v1"), nil},
		{mas("/p2p-circuit", "/ip6/::1/tcp/1"), []string{"::1"}},
	} {
		if got := netwatch.ListenIPs(tc.listen); !slices.Equal(got, tc.want) {
			t.Errorf("ListenIPs(%v) = %v, want %v", tc.listen, got, tc.want)
		}
	}
}

func TestChangeRemoved(t *testing.T) {
	for _, tc := range []struct {
		name string
		ch   netwatch.Change
		want bool
	}{
		{"an address gone", netwatch.Change{Old: snap("10.0.0.1", "10.0.0.2"), New: snap("10.0.0.2")}, true},
		{"an address added", netwatch.Change{Old: snap("10.0.0.1"), New: snap("10.0.0.1", "10.0.0.2")}, false},
		{"injected", netwatch.Change{Old: snap("10.0.0.1"), New: snap("10.0.0.1"), Injected: true}, true},
	} {
		if got := tc.ch.Removed(); got != tc.want {
			t.Errorf("%s: Removed() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
