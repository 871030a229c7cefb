package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/pionlog"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/pion/stun/v4"
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

// TestDemux shares one loopback TCP port between TURN over TCP and TURN
// over TLS (the relay serving the Demux routes handed to it, with a
// self-signed Ed25519 certificate that the client pins, and no TCP
// listener of its own) and libp2p (a host whose SharedTCPTransport serves
// the route: another host connects, opens a stream, and the server sees
// the client's real address). The credentials name the shared port for
// turn: and turns:. The relay is demoted and promoted again: the routes
// outlive the stop.
func TestDemux(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := NewDemux(ln, quietLogger())
	defer d.Close()
	turnRoute := d.Route("turn", IsSTUN)
	tlsRoute := d.Route("turns", IsTLS)
	p2pRoute := d.Route("libp2p", IsMultistream)
	_, port, _ := net.SplitHostPort(d.Addr().String())

	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := SelfSignedCertificate(priv, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	r := startRelay(t, w, testConfig(), Options{TURNListeners: []net.Listener{turnRoute}, TURNTLSListeners: []net.Listener{tlsRoute},
		TLSCertificate: &cert, SharedTCPOnly: true})
	if a := r.Addrs(); a.TCP != nil || a.TLS != nil || len(a.SharedTCP) != 1 || len(a.SharedTLS) != 1 {
		t.Fatalf("addrs %+v: want only the shared TCP and TLS listeners", a)
	}
	creds := credsFor(t, w, r, "alice")
	wantURLs := []string{"turn:127.0.0.1:" + port + "?transport=tcp", "turns:127.0.0.1:" + port + "?transport=tcp"}
	if len(creds.URLs) != 3 || !strings.HasSuffix(creds.URLs[0], "?transport=udp") || creds.URLs[1] != wantURLs[0] || creds.URLs[2] != wantURLs[1] {
		t.Fatalf("URLs %q, want UDP then %q", creds.URLs, wantURLs)
	}

	dials := []struct {
		name string
		dial func() (net.Conn, error)
	}{
		{"TURN over TCP", func() (net.Conn, error) { return net.Dial("tcp", d.Addr().String()) }},
		{"TURN over TLS", func() (net.Conn, error) { return tls.Dial("tcp", d.Addr().String(), PinnedTLSConfig(pub)) }},
	}
	allocateAll := func(t *testing.T) {
		for _, tc := range dials {
			t.Run(tc.name, func(t *testing.T) {
				conn, err := tc.dial()
				if err != nil {
					t.Fatal(err)
				}
				a := tcpAllocation(t, conn, creds)
				defer a.Close()
				if err := roundTrip(t, a, udpPeer(t), []byte("through the demux, "+tc.name)); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	allocateAll(t)
	t.Run("TLS with another key pinned", func(t *testing.T) {
		other, _, _ := ed25519.GenerateKey(nil)
		c, err := tls.Dial("tcp", d.Addr().String(), PinnedTLSConfig(other))
		if err == nil {
			c.Close()
			t.Fatal("TLS handshake succeeded with another key pinned")
		}
		if !errors.Is(err, ErrPinnedKey) {
			t.Fatalf("handshake: %v, want ErrPinnedKey", err)
		}
	})

	t.Run("libp2p", func(t *testing.T) {
		server, err := libp2p.New(libp2p.ListenAddrs(ma.StringCast("/ip4/127.0.0.1/tcp/"+port)),
			libp2p.Transport(NewSharedTCPTransport(p2pRoute), tcp.DisableReuseport()), libp2p.DisableRelay())
		if err != nil {
			t.Fatal(err)
		}
		defer server.Close()
		if got := server.Addrs(); len(got) != 1 || got[0].String() != "/ip4/127.0.0.1/tcp/"+port {
			t.Fatalf("server listens on %v, want the shared port %s", got, port)
		}
		const proto = "/peercall/demux-test/1"
		server.SetStreamHandler(proto, func(s network.Stream) { defer s.Close(); _, _ = s.Write([]byte("hi")) })
		client, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableRelay())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Connect(ctx, peer.AddrInfo{ID: server.ID(), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/" + port)}}); err != nil {
			t.Fatalf("connect through the demux: %v", err)
		}
		s, err := client.NewStream(ctx, server.ID(), proto)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		buf := make([]byte, 2)
		if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "hi" {
			t.Fatalf("stream through the demux read %q, %v; want \"hi\"", buf, err)
		}
		// The server's side of the connection names the client's own
		// socket (a proxy would show its own 127.0.0.1 port instead).
		cc, sc := client.Network().ConnsToPeer(server.ID()), server.Network().ConnsToPeer(client.ID())
		if len(cc) != 1 || len(sc) != 1 || !sc[0].RemoteMultiaddr().Equal(cc[0].LocalMultiaddr()) {
			t.Fatalf("server sees the client at %v, the client is at %v", remoteAddrs(sc), localAddrs(cc))
		}
	})

	t.Run("demoted and promoted", func(t *testing.T) {
		if err := r.Stop(); err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", d.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = c.Write(stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 100)); err == nil {
			t.Fatalf("a stopped relay answered %d bytes on the shared port", n)
		}
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		creds = credsFor(t, w, r, "alice")
		allocateAll(t)
	})
}

// tcpAllocation makes an allocation over conn, a TCP or TLS connection
// to a TURN server.
func tcpAllocation(t *testing.T, conn net.Conn, creds Credentials) *allocation {
	t.Helper()
	stunConn := turn.NewSTUNConn(conn)
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: conn.RemoteAddr().String(), Conn: stunConn,
		Username: creds.Username, Password: creds.Password, LoggerFactory: pionlog.New(quietLogger(), pionlog.Server),
	})
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	a := &allocation{client: client, conn: stunConn}
	if err := client.Listen(); err != nil {
		a.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if a.relay, err = client.AllocateWithContext(ctx); err != nil {
		a.Close()
		t.Fatalf("allocate over %v: %v", conn.RemoteAddr(), err)
	}
	return a
}

func remoteAddrs(cs []network.Conn) (out []string) {
	for _, c := range cs {
		out = append(out, c.RemoteMultiaddr().String())
	}
	return out
}

func localAddrs(cs []network.Conn) (out []string) {
	for _, c := range cs {
		out = append(out, c.LocalMultiaddr().String())
	}
	return out
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
