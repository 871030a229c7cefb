package relay

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/pionlog"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/pion/turn/v5"
)

func TestDemuxMatchers(t *testing.T) {
	stun := []byte{0x00, 0x03, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42}
	tests := []struct {
		name                 string
		b                    []byte
		tls, stunOK, mstream bool
	}{
		{"TURN allocate", stun, false, true, false},
		{"TLS ClientHello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01}, true, false, false},
		{"multistream-select", []byte("\x13/multistream/1.0.0\n")[:8], false, false, true},
		{"HTTP", []byte("GET / HT"), false, false, false},
		{"STUN without cookie", []byte{0x00, 0x01, 0x00, 0x00, 0, 0, 0, 0}, false, false, false},
		{"too short", []byte{0x00}, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if IsTLS(tc.b) != tc.tls || IsSTUN(tc.b) != tc.stunOK || IsMultistream(tc.b) != tc.mstream {
				t.Fatalf("IsTLS %t IsSTUN %t IsMultistream %t; want %t %t %t",
					IsTLS(tc.b), IsSTUN(tc.b), IsMultistream(tc.b), tc.tls, tc.stunOK, tc.mstream)
			}
		})
	}
}

// TestDemux shares one loopback TCP port between TURN over TCP, TURN over
// TLS (a real pion/turn server on the routes' listeners: allocations and
// a UDP round trip through them) and libp2p (proxied to a real host's own
// TCP listener: another host connects and opens a stream).
func TestDemux(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := NewDemux(ln, quietLogger())
	defer d.Close()
	turnTCP := d.Route("turn", IsSTUN)
	turnTLS := tls.NewListener(d.Route("turns", IsTLS), selfSignedTLS(t))
	p2p := d.Route("libp2p", IsMultistream)

	const secret = "demux-test-secret"
	gen := func() turn.RelayAddressGenerator {
		return &turn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"}
	}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:         DefaultRealm,
		AuthHandler:   turn.LongTermTURNRESTAuthHandler(secret, pionlog.New(quietLogger(), pionlog.Server).NewLogger("turn")),
		LoggerFactory: pionlog.New(quietLogger(), pionlog.Server),
		ListenerConfigs: []turn.ListenerConfig{
			{Listener: turnTCP, RelayAddressGenerator: gen()},
			{Listener: turnTLS, RelayAddressGenerator: gen()},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	user, pass, err := turn.GenerateLongTermTURNRESTCredentials(secret, "alice", time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	dials := map[string]func() (net.Conn, error){
		"TURN over TCP": func() (net.Conn, error) { return net.Dial("tcp", d.Addr().String()) },
		"TURN over TLS": func() (net.Conn, error) {
			return tls.Dial("tcp", d.Addr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test's self-signed certificate
		},
	}
	for name, dial := range dials {
		t.Run(name, func(t *testing.T) {
			conn, err := dial()
			if err != nil {
				t.Fatal(err)
			}
			stunConn := turn.NewSTUNConn(conn)
			client, err := turn.NewClient(&turn.ClientConfig{
				TURNServerAddr: conn.RemoteAddr().String(), Conn: stunConn, Realm: DefaultRealm,
				Username: user, Password: pass, LoggerFactory: pionlog.New(quietLogger(), pionlog.Server),
			})
			if err != nil {
				t.Fatal(err)
			}
			a := &allocation{client: client, conn: stunConn}
			defer a.Close()
			if err := client.Listen(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if a.relay, err = client.AllocateWithContext(ctx); err != nil {
				t.Fatalf("allocate through the demux: %v", err)
			}
			if err := roundTrip(t, a, udpPeer(t), []byte("through the demux, "+name)); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("libp2p", func(t *testing.T) {
		server, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
		if err != nil {
			t.Fatal(err)
		}
		defer server.Close()
		var target string
		for _, a := range server.Addrs() {
			if port, err := a.ValueForProtocol(ma.P_TCP); err == nil {
				target = "127.0.0.1:" + port
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		proxyDone := make(chan error, 1)
		go func() { proxyDone <- Proxy(ctx, p2p, target) }()
		defer func() { cancel(); <-proxyDone }()
		const proto = "/peercall/demux-test/1"
		server.SetStreamHandler(proto, func(s network.Stream) { defer s.Close(); _, _ = s.Write([]byte("hi")) })
		client, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableRelay())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		_, port, _ := net.SplitHostPort(d.Addr().String())
		if err := client.Connect(ctx, peer.AddrInfo{ID: server.ID(), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/" + port)}}); err != nil {
			t.Fatalf("connect through the demux: %v", err)
		}
		s, err := client.NewStream(ctx, server.ID(), proto)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		buf := make([]byte, 2)
		if _, err := s.Read(buf); err != nil || string(buf) != "hi" {
			t.Fatalf("stream through the demux read %q, %v; want \"hi\"", buf, err)
		}
	})
}

// FuzzDemuxMatchers: any opening matches at most one protocol, and the
// matchers never panic.
func FuzzDemuxMatchers(f *testing.F) {
	f.Add([]byte{0x00, 0x03, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42})
	f.Add([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01})
	f.Add([]byte("\x13/multis"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		for _, m := range []func([]byte) bool{IsTLS, IsSTUN, IsMultistream} {
			if m(b) {
				n++
			}
		}
		if n > 1 {
			t.Fatalf("%x matches %d protocols", b, n)
		}
	})
}
