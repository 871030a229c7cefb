package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/pionlog"

	"github.com/pion/turn/v5"
	"go.uber.org/goleak"

	"github.com/peercall/peercall/crypto"
)

func TestMain(m *testing.M) {
	if kind := os.Getenv("RELAY_BENCH_SERVER"); kind != "" {
		os.Exit(benchServerMain(kind)) // a child of BenchmarkRelayedCalls
	}
	goleak.VerifyTestMain(m)
}

// world is a directory key and the certified users of a test.
type world struct {
	dirPub  ed25519.PublicKey
	dirPriv ed25519.PrivateKey
}

func newWorld(t testing.TB) *world {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &world{dirPub: pub, dirPriv: priv}
}

// user returns a certificate for name and the peer key it names.
func (w *world) user(t testing.TB, name string) (*crypto.Certificate, ed25519.PublicKey) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := crypto.IssueCertificate(w.dirPriv, name, pub, 1, time.Now().Add(-time.Minute), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return cert, pub
}

// peerIP is the "public" peer of the tests: a loopback address the test
// relays allow on purpose (relay.allowed_peer_ranges), while 127.0.0.1,
// the relay's own host, stays forbidden.
var peerIP = net.IPv4(127, 0, 0, 2)

// testConfig is DefaultConfig on ephemeral ports, mode on, relaying to
// peerIP.
func testConfig() Config {
	c := DefaultConfig()
	c.Mode = ModeOn
	c.TURNPort = 0
	c.RelayPortMin, c.RelayPortMax = 0, 0
	c.MaxKbps = 100000
	c.AllowedPeerRanges = NewPeerRanges("127.0.0.2/32")
	return c
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startRelay starts a relay on opts.ListenIP (nil: 127.0.0.1) and stops it
// at the end of the test.
func startRelay(t testing.TB, w *world, cfg Config, opts Options) *Relay {
	t.Helper()
	opts.DirectoryKey = w.dirPub
	if opts.ListenIP == nil {
		opts.ListenIP = net.IPv4(127, 0, 0, 1)
	}
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	r, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// credsFor issues credentials to a fresh certified user called name.
func credsFor(t testing.TB, w *world, r *Relay, name string) Credentials {
	t.Helper()
	cert, key := w.user(t, name)
	c, err := r.IssueCredentials(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// allocation is a real pion/turn client with a UDP allocation.
type allocation struct {
	client *turn.Client
	conn   net.PacketConn // the client's socket to the server
	relay  net.PacketConn // the allocation
}

// Close ends the allocation, then closes the client's socket before the
// client: a transaction pion starts after the socket is closed fails at its
// first write instead of retransmitting for seconds, and Client.Close then
// ends every transaction still waiting.
func (a *allocation) Close() {
	if a.relay != nil {
		a.relay.Close()
	}
	a.conn.Close()
	a.client.Close()
}

// channelBinder is what pion's relayed UDPConn tells about its channels.
type channelBinder interface {
	FindChannelNumberByAddr(net.Addr) (uint16, bool)
	IsChannelActive(uint16) bool
}

// waitChannelBound waits (up to 5 s) until the ChannelBind that pion's
// client starts in the background after the first WriteTo to peer has
// succeeded. A test that ends while that transaction is in flight leaves
// its goroutine retransmitting for up to 8 s (on pion's vnet, whose closed
// sockets still accept writes, always), which goleak reports.
func (a *allocation) waitChannelBound(peer net.Addr) error {
	cb, ok := a.relay.(channelBinder)
	if !ok {
		return nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, ok := cb.FindChannelNumberByAddr(peer); ok && cb.IsChannelActive(n) {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("pion's ChannelBind to " + peer.String() + " did not complete in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// allocate makes a UDP allocation on the relay's UDP listener.
func allocate(t testing.TB, r *Relay, username, password string) (*allocation, error) {
	t.Helper()
	network, local := "udp4", "127.0.0.1:0"
	if r.Addrs().UDP.(*net.UDPAddr).IP.To4() == nil {
		network, local = "udp6", "[::1]:0"
	}
	conn, err := net.ListenPacket(network, local)
	if err != nil {
		t.Fatal(err)
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: r.Addrs().UDP.String(),
		Conn:           conn,
		Username:       username,
		Password:       password,
		RTO:            100 * time.Millisecond,
		LoggerFactory:  pionlog.New(quietLogger(), pionlog.Server),
	})
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	a := &allocation{client: client, conn: conn}
	if err := client.Listen(); err != nil {
		a.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.relay, err = client.AllocateWithContext(ctx)
	if err != nil {
		a.Close()
		return nil, err
	}
	t.Cleanup(a.Close)
	return a, nil
}

// udpPeer is a plain UDP socket on peerIP: the far end of a relayed path.
func udpPeer(t testing.TB) net.PacketConn {
	return udpSocket(t, peerIP.String())
}

// udpSocket is a UDP socket on ip, closed at the end of the test.
func udpSocket(t testing.TB, ip string) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends payload from the allocation to peer and back, and checks
// both arrive unaltered, retrying (bounded) while permissions are set up.
func roundTrip(t testing.TB, a *allocation, peer net.PacketConn, payload []byte) error {
	t.Helper()
	buf := make([]byte, 2048)
	deadline := time.Now().Add(5 * time.Second)
	var relayAddr net.Addr
	for relayAddr == nil {
		if time.Now().After(deadline) {
			return errors.New("client -> peer: nothing arrived in 5s")
		}
		if _, err := a.relay.WriteTo(payload, peer.LocalAddr()); err != nil {
			return err
		}
		peer.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, from, err := peer.ReadFrom(buf)
		if err != nil {
			continue
		}
		if !bytes.Equal(buf[:n], payload) {
			return errors.New("client -> peer: payload altered")
		}
		relayAddr = from
	}
	if relayAddr.String() != a.relay.LocalAddr().String() {
		return errors.New("peer saw " + relayAddr.String() + ", want the relayed address " + a.relay.LocalAddr().String())
	}
	back := append([]byte("back:"), payload...)
	for {
		if time.Now().After(deadline) {
			return errors.New("peer -> client: nothing arrived in 5s")
		}
		if _, err := peer.WriteTo(back, relayAddr); err != nil {
			return err
		}
		a.relay.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, from, err := a.relay.ReadFrom(buf)
		if err != nil {
			continue
		}
		if from.String() != peer.LocalAddr().String() {
			return errors.New("client saw a packet from " + from.String())
		}
		if !bytes.Equal(buf[:n], back) {
			return errors.New("peer -> client: payload altered")
		}
		return a.waitChannelBound(peer.LocalAddr())
	}
}

// eventually polls cond every 20 ms for up to 5 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
