package reach

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func loopbackHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestDialback: a peer dials the asker's address back on a fresh
// connection from its separate dialer; a closed port is reported as not
// answering; an address on another IP than the request's source is never
// dialled (no one can aim dial-backs at a third party).
func TestDialback(t *testing.T) {
	server, asker := loopbackHost(t), loopbackHost(t)
	svc := NewService(server, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { svc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := asker.Connect(ctx, peer.AddrInfo{ID: server.ID(), Addrs: server.Addrs()}); err != nil {
		t.Fatal(err)
	}
	var own ma.Multiaddr
	for _, a := range asker.Addrs() {
		if isTCPAddr(a) {
			own = a
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ma.StringCast("/ip4/127.0.0.1/tcp/" + strings.TrimPrefix(l.Addr().String(), "127.0.0.1:"))
	l.Close()
	for _, tc := range []struct {
		name      string
		addrs     []ma.Multiaddr
		reachable bool
		refused   bool
	}{
		{"own address", []ma.Multiaddr{own}, true, false},
		{"closed port", []ma.Multiaddr{closed}, false, false},
		{"another IP", []ma.Multiaddr{ma.StringCast("/ip4/192.0.2.7/tcp/7070")}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := askDialback(ctx, asker, server.ID(), tc.addrs)
			if tc.refused {
				if err == nil || !strings.Contains(err.Error(), "refused") {
					t.Fatalf("result %+v, err %v; want a refusal", res, err)
				}
				return
			}
			if err != nil || res.Reachable != tc.reachable {
				t.Fatalf("result %+v, err %v; want reachable %v", res, err, tc.reachable)
			}
		})
	}
}
