package relay

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/pionlog"

	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/turn/v5"
)

// TestRelayOnVirtualNetwork runs the relay on pion's in-process network:
// the server and a peer on a simulated WAN, the client behind a symmetric
// NAT, every socket of the relay opened through Options.Net. The client
// reaches the peer only through its allocation. The WAN is 198.18.0.0/24,
// a benchmarking range the relay opens only as the lab does
// (relay.allowed_peer_ranges); its broadcast address, which the relay
// learns from its (virtual) interface, stays forbidden.
func TestRelayOnVirtualNetwork(t *testing.T) {
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "198.18.0.0/24", LoggerFactory: pionlog.New(quietLogger(), pionlog.Server)})
	if err != nil {
		t.Fatal(err)
	}
	serverNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"198.18.0.10"}})
	if err != nil {
		t.Fatal(err)
	}
	peerNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"198.18.0.20"}})
	if err != nil {
		t.Fatal(err)
	}
	home, err := vnet.NewRouter(&vnet.RouterConfig{
		StaticIPs: []string{"198.18.0.30"}, CIDR: "192.168.1.0/24", LoggerFactory: pionlog.New(quietLogger(), pionlog.Server),
		NATType: &vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent},
	})
	if err != nil {
		t.Fatal(err)
	}
	clientNet, err := vnet.NewNet(&vnet.NetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*vnet.Net{serverNet, peerNet} {
		if err := wan.AddNet(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := wan.AddRouter(home); err != nil {
		t.Fatal(err)
	}
	if err := home.AddNet(clientNet); err != nil {
		t.Fatal(err)
	}
	if err := wan.Start(); err != nil {
		t.Fatal(err)
	}
	defer wan.Stop()

	w := newWorld(t)
	cfg := testConfig()
	cfg.TURNPort = DefaultTURNPort
	cfg.RelayPortMin, cfg.RelayPortMax = DefaultRelayPortMin, DefaultRelayPortMax
	cfg.AllowedPeerRanges = NewPeerRanges("198.18.0.0/15")
	r, err := New(cfg, Options{DirectoryKey: w.dirPub, ListenIP: net.IPv4(198, 18, 0, 10), Net: serverNet, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if a := r.Addrs(); a.UDP.String() != "198.18.0.10:3478" || a.TCP != nil {
		t.Fatalf("addrs %+v: want UDP 198.18.0.10:3478 and no TCP on vnet", a)
	}
	creds := credsFor(t, w, r, "alice")
	if len(creds.URLs) != 1 || creds.URLs[0] != "turn:198.18.0.10:3478?transport=udp" {
		t.Fatalf("URLs %q", creds.URLs)
	}

	conn, err := clientNet.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: "198.18.0.10:3478", Conn: conn, Net: clientNet,
		Username: creds.Username, Password: creds.Password, LoggerFactory: pionlog.New(quietLogger(), pionlog.Server),
	})
	if err != nil {
		t.Fatal(err)
	}
	a := &allocation{client: client, conn: conn}
	defer a.Close()
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	if a.relay, err = client.Allocate(); err != nil {
		t.Fatal(err)
	}
	ra := a.relay.LocalAddr().(*net.UDPAddr)
	if !ra.IP.Equal(net.IPv4(198, 18, 0, 10)) || ra.Port < DefaultRelayPortMin || ra.Port > DefaultRelayPortMax {
		t.Fatalf("relayed address %v: want 198.18.0.10 in %d-%d", ra, DefaultRelayPortMin, DefaultRelayPortMax)
	}
	peer, err := peerNet.ListenPacket("udp4", "198.18.0.20:5000")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if err := roundTrip(t, a, peer, []byte("through a symmetric NAT")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ip   string
		kind PeerKind
	}{{"198.18.0.255", PeerBroadcast}, {"192.168.1.1", PeerPrivate}} {
		err := client.CreatePermission(&net.UDPAddr{IP: net.ParseIP(tt.ip), Port: 5000})
		var te *stun.TurnError
		if !errors.As(err, &te) || te.ErrorCodeAttr.Code != stun.CodeForbidden || r.Stats().PeerForbidden[tt.kind] == 0 {
			t.Errorf("CreatePermission(%s) = %v, want 403 counted as %s", tt.ip, err, tt.kind)
		}
	}
	// The server's own address passes the permission (relay to relay) but
	// no datagram reaches its TURN port.
	if _, err := a.relay.WriteTo([]byte("to the TURN port"), &net.UDPAddr{IP: net.IPv4(198, 18, 0, 10), Port: DefaultTURNPort}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a datagram to the server's TURN port dropped as self", func() bool {
		s := r.Stats()
		return s.Dropped[DroppedPeerForbidden] > 0 && s.PeerForbidden[PeerSelf] > 0
	})
	if err := a.waitChannelBound(&net.UDPAddr{IP: net.IPv4(198, 18, 0, 10), Port: DefaultTURNPort}); err != nil {
		t.Fatal(err)
	}
}

// TestDrainAndRestart: draining refuses new allocations and credentials
// but lets the open session relay until it ends; the relay then stops and
// can be started again (a node demoted and promoted again).
func TestDrainAndRestart(t *testing.T) {
	w := newWorld(t)
	r := startRelay(t, w, testConfig(), Options{})
	alice := credsFor(t, w, r, "alice")
	bob := credsFor(t, w, r, "bob")
	a, err := allocate(t, r, alice.Username, alice.Password)
	if err != nil {
		t.Fatal(err)
	}
	peer := udpPeer(t)
	if err := roundTrip(t, a, peer, []byte("before drain")); err != nil {
		t.Fatal(err)
	}
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		drained <- r.Drain(ctx)
	}()
	eventually(t, "credentials refused while draining", func() bool {
		cert, key := w.user(t, "carol")
		_, err := r.IssueCredentials(cert, key)
		return errors.Is(err, ErrNotRunning)
	})
	_, err = allocate(t, r, bob.Username, bob.Password)
	var te *stun.TurnError
	if !errors.As(err, &te) || te.ErrorCodeAttr.Code != stun.CodeAllocQuotaReached || r.Stats().Refused[RefusedDraining] == 0 {
		t.Fatalf("allocation while draining: %v (draining refusals %d), want 486 counted as draining", err, r.Stats().Refused[RefusedDraining])
	}
	if err := roundTrip(t, a, peer, []byte("while draining")); err != nil {
		t.Fatalf("the open session stopped relaying during the drain: %v", err)
	}
	select {
	case err := <-drained:
		t.Fatalf("Drain returned %v with a session open", err)
	case <-time.After(100 * time.Millisecond):
	}
	a.Close()
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	if r.Running() {
		t.Fatal("still running after the drain")
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("restart: %v", err)
	}
	c := credsFor(t, w, r, "dave")
	b, err := allocate(t, r, c.Username, c.Password)
	if err != nil {
		t.Fatalf("allocation after restart: %v", err)
	}
	if err := roundTrip(t, b, peer, []byte("after restart")); err != nil {
		t.Fatal(err)
	}
}
