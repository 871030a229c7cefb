//go:build linux

package fastpath

import (
	"net"
	"testing"
	"time"
)

// TestBatch reads datagrams with recvmmsg and sends them back with
// sendmmsg on IPv4, IPv6 and dual-stack sockets: the sources read are the
// senders' (IPv4 unmapped on the dual-stack socket), and what is queued
// arrives at them, in order.
func TestBatch(t *testing.T) {
	tests := []struct {
		name, network, listen, peerNet, peer string
	}{
		{"ipv4", "udp4", "127.0.0.1:0", "udp4", "127.0.0.1:0"},
		{"ipv6", "udp6", "[::1]:0", "udp6", "[::1]:0"},
		{"dual-stack, IPv4 peer", "udp", ":0", "udp4", "127.0.0.1:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			la, err := net.ResolveUDPAddr(tt.network, tt.listen)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := net.ListenUDP(tt.network, la)
			if err != nil {
				t.Skipf("no %s socket on %s here: %v", tt.network, tt.listen, err)
			}
			defer conn.Close()
			b := newBatch(conn)
			if b == nil {
				t.Fatal("newBatch: no batch on a UDP socket")
			}
			pa, _ := net.ResolveUDPAddr(tt.peerNet, tt.peer)
			peer, err := net.ListenUDP(tt.peerNet, pa)
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			port := conn.LocalAddr().(*net.UDPAddr).Port
			dst := &net.UDPAddr{IP: peer.LocalAddr().(*net.UDPAddr).IP, Port: port}
			const count = 10
			for i := range count {
				if _, err := peer.WriteToUDP([]byte{byte(i), 'x'}, dst); err != nil {
					t.Fatal(err)
				}
			}
			want, _ := AddrPort(peer.LocalAddr())
			got := 0
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			for got < count {
				if err := b.read(); err != nil {
					t.Fatalf("read after %d datagrams: %v", got, err)
				}
				for i := 0; i < b.n; i++ {
					p, from := b.datagram(i)
					if from != want || len(p) != 2 || p[0] != byte(got) {
						t.Fatalf("datagram %d: %x from %v, want [%d x] from %v", got, p, from, got, want)
					}
					b.queue(p, from)
					got++
				}
				if err := b.flush(); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, 64)
			peer.SetReadDeadline(time.Now().Add(2 * time.Second))
			for i := range count {
				n, from, err := peer.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatalf("echo %d: %v", i, err)
				}
				if n != 2 || buf[0] != byte(i) || from.Port() != uint16(port) { //nolint:gosec // a port
					t.Fatalf("echo %d: %x from %v", i, buf[:n], from)
				}
			}
		})
	}
}
