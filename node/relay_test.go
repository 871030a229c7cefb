package node_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peercall/peercall/relay/turncreds"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	circuitclient "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/internal/testaudio"
	"github.com/peercall/peercall/node"
	"github.com/peercall/peercall/relay"
	"github.com/peercall/peercall/supernode"
)

// relayNode is a node of a relay test with its relay manager and audio.
type relayNode struct {
	n *node.Node
	m *supernode.Manager
	a *callharness.Audio
	u *callharness.User
}

// relaySpec describes one node of a relay test.
type relaySpec struct {
	name       string
	cfg        home.RelayConfig // [relay]
	ranges     []string         // network.reachable_ranges
	policy     string           // admin policy file contents ("" = none)
	autoAnswer bool
	metrics    bool           // serve /metrics on a free loopback port
	cpu        func() float64 // CPU load (nil: 0)
	restricted bool           // network.restricted: relays over TCP and TLS only
}

// superNode is relay on, uptime and bandwidth conditions met, TURN on free
// loopback ports, with maxSessions sessions.
func superNode(maxSessions int) home.RelayConfig {
	c := home.DefaultRelayConfig()
	c.Mode = relay.ModeOn
	c.TURNPort, c.RelayPortMin, c.RelayPortMax = 0, 0, 0
	c.MinUptime = 0
	c.UpstreamKbps = 10000
	c.MaxSessions = maxSessions
	return c
}

// clientNode is the default [relay] (mode auto: 30 minutes of uptime
// keep it a client in a test) on free ports.
func clientNode() home.RelayConfig {
	c := home.DefaultRelayConfig()
	c.TURNPort, c.RelayPortMin, c.RelayPortMax = 0, 0, 0
	return c
}

var loopbackRange = []string{"127.0.0.0/8"}

// testRelayOptions make promotion and lookups quick: a decision every
// 100 ms, no hysteresis, super-node lookups every 2 s, no CPU load.
func testRelayOptions(t testing.TB, cfg home.RelayConfig, policy string) supernode.Options {
	path := filepath.Join(t.TempDir(), "policy.toml") // absent: no policy
	if policy != "" {
		if err := os.WriteFile(path, []byte(policy), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return supernode.Options{
		Config: &cfg, PolicyPath: path,
		Interval: 100 * time.Millisecond, ReachabilityInterval: time.Minute,
		PromoteHold: time.Millisecond, DemoteHold: time.Millisecond,
		ProvideInterval: time.Minute, Refresh: 2 * time.Second,
		DrainTimeout: 2 * time.Second, CPULoad: func() float64 { return 0 },
		SameHostPeers: true, // every node of these tests is on 127.0.0.1
	}
}

// startRelayNode registers spec.name and starts its node, bootstrapped to
// the nodes already running.
func startRelayNode(t testing.TB, nw *callharness.Network, spec relaySpec) *relayNode {
	t.Helper()
	u := nw.User(spec.name)
	if spec.ranges != nil || spec.restricted {
		cfg, err := u.Home.Config()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Network.ReachableRanges = spec.ranges
		cfg.Network.Restricted = spec.restricted
		if err := u.Home.SaveConfig(cfg); err != nil {
			t.Fatal(err)
		}
	}
	voice := "alice"
	if strings.HasPrefix(spec.name, "bob") {
		voice = "bob"
	}
	a := &callharness.Audio{Send: callharness.Speech(voice, speechSeconds)}
	o := callharness.NodeOptions()
	o.Audio = a.Opener()
	o.AutoAnswer = spec.autoAnswer
	o.Relay = testRelayOptions(t, spec.cfg, spec.policy)
	if spec.metrics {
		o.MetricsAddr = "127.0.0.1:0"
	}
	if spec.cpu != nil {
		o.Relay.CPULoad = spec.cpu
	}
	n := nw.Start(u, o)
	return &relayNode{n: n, m: n.Relay(), a: a, u: u}
}

// waitFor polls cond every 50 ms for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitSuperNodes waits until n knows want super-nodes.
func waitSuperNodes(t *testing.T, n *relayNode, want int) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("%s does not know %d super-nodes", n.u.Name, want), func() bool {
		return len(n.m.SuperNodes()) >= want
	})
}

// relayedCall is alice's call to bob with force-relay, run in the
// background.
type relayedCall struct {
	done   chan struct{}
	hangup context.CancelFunc
	res    *call.Result
	err    error
}

func startCall(t *testing.T, from *relayNode, to string, force bool) *relayedCall {
	ctx, cancel := context.WithCancel(callCtx(t))
	c := &relayedCall{done: make(chan struct{}), hangup: cancel}
	go func() {
		defer close(c.done)
		c.res, c.err = from.n.Call(ctx, to, call.Options{ForceRelay: force})
	}()
	return c
}

func (c *relayedCall) end(t *testing.T) {
	t.Helper()
	c.hangup()
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the call did not end 20 s after hanging up")
	}
}

// checkHeard asserts that what rec played is what was sent.
func checkHeard(t *testing.T, what string, sent []int16, rec *callharness.Recorder) {
	t.Helper()
	if rec == nil {
		t.Fatalf("%s: no audio was played", what)
	}
	sim := callharness.SegmentSimilarity(sent, rec.Samples())
	t.Logf("%s: similarity %.3f", what, sim)
	if sim <= testaudio.Threshold {
		t.Errorf("%s: similarity %.3f <= %.2f: what was heard is not what was sent", what, sim, testaudio.Threshold)
	}
}

// TestRelayedCall: three nodes on loopback, one a super-node (relay on,
// 127/8 counted reachable, proved by dial-back). alice calls bob with
// force-relay: the audio arrives intact both ways, the summary names the
// super-node, and the super-node's status counts the session and bytes.
func TestRelayedCall(t *testing.T) {
	// Registered first, so it runs after the network closed: the relay
	// managers (TURN, circuit relay, dial-back dialer, metrics server,
	// loops) leave no goroutine behind.
	t.Cleanup(func() { goleak.VerifyNone(t) })
	nw := callharness.NewNetwork(t)
	sam := startRelayNode(t, nw, relaySpec{name: "sam", cfg: superNode(10), ranges: loopbackRange, metrics: true})
	alice := startRelayNode(t, nw, relaySpec{name: "alice", cfg: clientNode()})
	bob := startRelayNode(t, nw, relaySpec{name: "bob", cfg: clientNode(), autoAnswer: true})

	waitFor(t, 20*time.Second, "sam is not a super-node", sam.m.Promoted)
	st := sam.n.Status()
	if st.Role != "super-node" || st.Reachability != "public" {
		t.Fatalf("sam's status: role %q (%s), reachability %q; want super-node, public", st.Role, st.RoleReason, st.Reachability)
	}
	if st := alice.n.Status(); st.Role != "client" || st.Reachability == "public" {
		t.Errorf("alice (no reachable range for 127/8) status: role %q (%s), reachability %q; want a client that is not public",
			st.Role, st.RoleReason, st.Reachability)
	}
	waitSuperNodes(t, alice, 1)

	c := startCall(t, alice, "bob", true)
	waitHeard(t, c.done, bob.a, len(alice.a.Send))
	waitHeard(t, c.done, alice.a, len(bob.a.Send))
	during := sam.n.Status().Relay
	c.end(t)
	if c.err != nil {
		t.Fatalf("alice calls bob through the relay: %v", c.err)
	}
	s := c.res.Summary
	t.Logf("summary %+v", s)
	if s.Route != "relay" || s.RelayPeerID != sam.n.PeerID().String() {
		t.Errorf("summary route %q via %q, want relay via sam %s", s.Route, s.RelayPeerID, sam.n.PeerID())
	}
	checkHeard(t, "alice→bob", alice.a.Send, bob.a.Last())
	checkHeard(t, "bob→alice", bob.a.Send, alice.a.Last())
	if during.Sessions < 1 || during.BytesRelayed == 0 {
		t.Errorf("sam's relay status during the call: %+v; want a session and relayed bytes", during)
	}
	if rs := sam.m.RelayStats(); rs.SessionsTotal < 1 || rs.BytesRelayed < uint64(s.PacketsReceived)*20 {
		t.Errorf("sam's relay counted %d sessions and %d bytes; alice received %d packets through it", rs.SessionsTotal, rs.BytesRelayed, s.PacketsReceived)
	}
	checkStatusJSON(t, sam.n.Status())
	checkMetrics(t, sam.n.MetricsAddr(), map[string]float64{
		"peercall_node_super_node": 1, "peercall_node_reachable": 1, "peercall_relay_sessions_total": 1,
	})
}

// checkStatusJSON asserts the `status --json` keys of a super-node that
// relayed a call.
func checkStatusJSON(t *testing.T, st control.Status) {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Role         *string `json:"role"`
		RoleReason   *string `json:"role_reason"`
		Reachability *string `json:"reachability"`
		Relay        *struct {
			Sessions     *int     `json:"sessions"`
			BytesRelayed *uint64  `json:"bytes_relayed"`
			Kbps         *float64 `json:"kbps"`
			Limits       *struct {
				MaxSessions *int `json:"max_sessions"`
			} `json:"limits"`
		} `json:"relay"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Role == nil || *m.Role != "super-node", m.RoleReason == nil || *m.RoleReason == "",
		m.Reachability == nil || *m.Reachability != "public", m.Relay == nil, m.Relay.Sessions == nil,
		m.Relay.BytesRelayed == nil || *m.Relay.BytesRelayed == 0, m.Relay.Kbps == nil,
		m.Relay.Limits == nil || m.Relay.Limits.MaxSessions == nil || *m.Relay.Limits.MaxSessions != 10:
		t.Errorf("status --json of the super-node lacks a contract field or value: %s", b)
	}
}

// checkMetrics fetches /metrics at addr and asserts each metric is at
// least its value.
func checkMetrics(t *testing.T, addr string, atLeast map[string]float64) {
	t.Helper()
	if addr == "" {
		t.Fatal("no metrics server")
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && !strings.HasPrefix(line, "#") {
			v, err := strconv.ParseFloat(f[1], 64)
			if err == nil {
				got[f[0]] = v
			}
		}
	}
	for name, min := range atLeast {
		if v, ok := got[name]; !ok || v < min {
			t.Errorf("metric %s = %v (present %v), want at least %v", name, v, ok, min)
		}
	}
}

// TestRelayCredentialsNeedCertificate: over the node's /peercall/relay/1,
// a peer whose certificate is not its own (a real user's certificate
// replayed by another key) or not a certificate at all gets no TURN
// credentials, while the certificate's owner does.
func TestRelayCredentialsNeedCertificate(t *testing.T) {
	nw := callharness.NewNetwork(t)
	sam := startRelayNode(t, nw, relaySpec{name: "sam", cfg: superNode(10), ranges: loopbackRange})
	alice := startRelayNode(t, nw, relaySpec{name: "alice", cfg: clientNode()})
	waitFor(t, 20*time.Second, "sam is not a super-node", sam.m.Promoted)
	cert, err := alice.u.Home.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer mallory.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	samInfo := peer.AddrInfo{ID: sam.n.PeerID(), Addrs: sam.n.Addrs()}
	for _, tc := range []struct {
		name string
		h    host.Host
		cert []byte
		want turncreds.Code
	}{
		{"owner", alice.n.Host(), cert.Marshal(), turncreds.CodeOK},
		{"another key with alice's certificate", mallory, cert.Marshal(), turncreds.CodeCertificate},
		{"not a certificate", mallory, []byte("not a certificate"), turncreds.CodeCertificate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.h.Connect(ctx, samInfo); err != nil {
				t.Fatal(err)
			}
			s, err := tc.h.NewStream(ctx, sam.n.PeerID(), turncreds.ProtocolID)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_ = s.SetDeadline(time.Now().Add(10 * time.Second))
			req := turncreds.CredentialRequest{Certificate: tc.cert}
			req.Nonce[0] = 42
			body, err := req.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(body))), body...)); err != nil {
				t.Fatal(err)
			}
			var lb [2]byte
			if _, err := io.ReadFull(s, lb[:]); err != nil {
				t.Fatal(err)
			}
			resp := make([]byte, binary.BigEndian.Uint16(lb[:]))
			if _, err := io.ReadFull(s, resp); err != nil {
				t.Fatal(err)
			}
			r, err := turncreds.UnmarshalCredentialResponse(resp)
			if err != nil {
				t.Fatal(err)
			}
			if r.Code != tc.want {
				t.Fatalf("code %d (%s), want %d", r.Code, r.Message, tc.want)
			}
			if tc.want != turncreds.CodeOK && r.Credentials.Password != "" {
				t.Fatal("a refusal carries credentials")
			}
			if tc.want == turncreds.CodeOK && (r.Credentials.Password == "" || len(r.Credentials.URLs) == 0) {
				t.Fatalf("the owner got no usable credentials: %+v", r.Credentials)
			}
		})
	}
	if rs := sam.m.RelayStats(); rs.Refused[relay.RefusedCertificatePeer] != 1 || rs.Refused[relay.RefusedCertificate] != 1 || rs.CredentialsIssued != 1 {
		t.Errorf("sam counted refusals %v and %d issues; want one certificate_peer, one certificate_invalid, one issued", rs.Refused, rs.CredentialsIssued)
	}
	// A super-node with no other super-node around relays its own calls.
	if ch, err := sam.m.PickRelay(ctx, "", true); err != nil || ch.Relay != sam.n.PeerID() || len(ch.Servers) == 0 {
		t.Errorf("sam's own relay: %+v, %v; want its own TURN server", ch, err)
	}
}

// TestRelayDemotion: a super-node whose CPU load rises above
// relay.max_cpu_load demotes itself: TURN stops answering and no
// credentials are handed out any more.
func TestRelayDemotion(t *testing.T) {
	// Registered first, so it runs after the network closed: the relay
	// managers (TURN, circuit relay, dial-back dialer, metrics server,
	// loops) leave no goroutine behind.
	t.Cleanup(func() { goleak.VerifyNone(t) })
	nw := callharness.NewNetwork(t)
	var load atomic.Uint64 // percent
	sam := startRelayNode(t, nw, relaySpec{name: "sam", cfg: superNode(10), ranges: loopbackRange,
		cpu: func() float64 { return float64(load.Load()) / 100 }})
	alice := startRelayNode(t, nw, relaySpec{name: "alice", cfg: clientNode()})
	waitFor(t, 20*time.Second, "sam is not a super-node", sam.m.Promoted)
	turn := sam.m.TURNAddrs().TCP
	if turn == nil {
		t.Fatal("a super-node without a TURN TCP listener")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := alice.m.PickRelay(ctx, "", true); err != nil {
		t.Fatalf("alice gets no credentials from the super-node: %v", err)
	}
	load.Store(99)
	waitFor(t, 10*time.Second, "sam is still a super-node at 99% CPU", func() bool { return !sam.m.Promoted() })
	if st := sam.n.Status(); st.Role != "client" || !strings.Contains(st.RoleReason, "CPU load") {
		t.Errorf("status after demotion: %q (%s), want client because of the CPU load", st.Role, st.RoleReason)
	}
	if c, err := net.DialTimeout("tcp", turn.String(), time.Second); err == nil {
		c.Close()
		t.Errorf("TURN still answers on %v after demotion", turn)
	}
	if ch, err := alice.m.PickRelay(ctx, "", true); !errors.Is(err, supernode.ErrNoRelay) {
		t.Errorf("alice asks the demoted node for credentials: %+v, %v; want ErrNoRelay", ch, err)
	}
}

// TestRelayOptOut: a node with relay off and one whose admin policy says
// off meet every other condition (dial-back proves them reachable, uptime
// and bandwidth are waived by mode on) yet stay clients: no TURN port
// answers, no provider record names them, and circuit reservations are
// refused, while the super-node next to them does all three.
func TestRelayOptOut(t *testing.T) {
	// Registered first, so it runs after the network closed: the relay
	// managers (TURN, circuit relay, dial-back dialer, metrics server,
	// loops) leave no goroutine behind.
	t.Cleanup(func() { goleak.VerifyNone(t) })
	nw := callharness.NewNetwork(t)
	sam := startRelayNode(t, nw, relaySpec{name: "sam", cfg: superNode(10), ranges: loopbackRange})
	offPort := freePort(t)
	offCfg := superNode(10)
	offCfg.Mode, offCfg.TURNPort = relay.ModeOff, offPort
	off := startRelayNode(t, nw, relaySpec{name: "olive", cfg: offCfg, ranges: loopbackRange})
	polPort := freePort(t)
	polCfg := superNode(10)
	polCfg.TURNPort = polPort
	pol := startRelayNode(t, nw, relaySpec{name: "paul", cfg: polCfg, ranges: loopbackRange,
		policy: "[relay]\nmode = \"off\"\n"})
	alice := startRelayNode(t, nw, relaySpec{name: "alice", cfg: clientNode()})

	waitFor(t, 20*time.Second, "sam is not a super-node", sam.m.Promoted)
	for _, tc := range []struct {
		n      *relayNode
		port   int
		reason string
	}{
		{off, offPort, "relay.mode is off"},
		{pol, polPort, "admin policy"},
	} {
		waitFor(t, 20*time.Second, tc.n.u.Name+" is not proved reachable", func() bool {
			return tc.n.n.Status().Reachability == "public"
		})
		st := tc.n.n.Status()
		if st.Role != "client" || !strings.Contains(st.RoleReason, tc.reason) {
			t.Errorf("%s: role %q (%s); want client because %s", tc.n.u.Name, st.Role, st.RoleReason, tc.reason)
		}
		if a := tc.n.m.TURNAddrs(); a.UDP != nil || a.TCP != nil {
			t.Errorf("%s listens for TURN on %v", tc.n.u.Name, a)
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", tc.port), time.Second); err == nil {
			c.Close()
			t.Errorf("%s: TURN TCP port %d answers", tc.n.u.Name, tc.port)
		}
	}
	// Circuit relay: sam accepts a reservation, the opted-out nodes refuse.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := alice.n.Host()
	if _, err := circuitclient.Reserve(ctx, h, peer.AddrInfo{ID: sam.n.PeerID(), Addrs: sam.n.Addrs()}); err != nil {
		t.Errorf("sam refuses a circuit reservation: %v", err)
	}
	for _, n := range []*relayNode{off, pol} {
		if _, err := circuitclient.Reserve(ctx, h, peer.AddrInfo{ID: n.n.PeerID(), Addrs: n.n.Addrs()}); err == nil {
			t.Errorf("%s accepted a circuit reservation", n.u.Name)
		}
	}
	// Provider records: only sam advertises itself.
	var ids []peer.ID
	waitFor(t, 10*time.Second, "sam's provider record is not found", func() bool {
		provs, err := alice.n.DHT().FindProviders(ctx, relay.ProviderKey())
		if err != nil {
			t.Fatal(err)
		}
		ids = ids[:0]
		for _, p := range provs {
			ids = append(ids, p.ID)
		}
		return len(ids) > 0
	})
	if len(ids) != 1 || ids[0] != sam.n.PeerID() {
		t.Errorf("providers of the super-node key: %v; want only sam %s", ids, sam.n.PeerID())
	}
}

// freePort returns a port free for TCP and UDP on 127.0.0.1 (a fixed TURN
// port the test can probe).
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", l.Addr().String())
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return 0
}

// TestRelayCaps: two super-nodes with max_sessions = 1. alice calls bob
// with force-relay: alice's allocation fills one super-node, so bob's
// request is refused there at once and bob's allocation goes to the
// other. A third relayed call then fails with a reason naming the limits,
// and the first call keeps its quality.
func TestRelayCaps(t *testing.T) {
	nw := callharness.NewNetwork(t)
	s1 := startRelayNode(t, nw, relaySpec{name: "sam", cfg: superNode(1), ranges: loopbackRange})
	s2 := startRelayNode(t, nw, relaySpec{name: "sue", cfg: superNode(1), ranges: loopbackRange, autoAnswer: true})
	alice := startRelayNode(t, nw, relaySpec{name: "alice", cfg: clientNode()})
	bob := startRelayNode(t, nw, relaySpec{name: "bob", cfg: clientNode(), autoAnswer: true})
	carol := startRelayNode(t, nw, relaySpec{name: "carol", cfg: clientNode()})
	waitFor(t, 20*time.Second, "sam and sue are not super-nodes", func() bool { return s1.m.Promoted() && s2.m.Promoted() })
	waitSuperNodes(t, alice, 2)
	waitSuperNodes(t, bob, 2)
	waitSuperNodes(t, carol, 2)

	c := startCall(t, alice, "bob", true)
	waitHeard(t, c.done, bob.a, len(alice.a.Send)/2)
	sessions := func(n *relayNode) int { return n.m.RelayStats().Sessions }
	if sessions(s1) != 1 || sessions(s2) != 1 {
		t.Errorf("sessions sam %d, sue %d: want one each (alice's on one, bob's moved to the other)", sessions(s1), sessions(s2))
	}
	// carol, relay forced, finds both full.
	_, err := carol.n.Call(callCtx(t), "sue", call.Options{ForceRelay: true})
	if !errors.Is(err, supernode.ErrNoRelay) || !strings.Contains(err.Error(), "session limit") {
		t.Errorf("carol's relayed call with both super-nodes full: %v; want ErrNoRelay naming the session limit", err)
	}
	waitHeard(t, c.done, bob.a, len(alice.a.Send))
	waitHeard(t, c.done, alice.a, len(bob.a.Send))
	c.end(t)
	if c.err != nil {
		t.Fatalf("alice's call: %v", c.err)
	}
	t.Logf("first call's summary %+v", c.res.Summary)
	checkHeard(t, "alice→bob", alice.a.Send, bob.a.Last())
	checkHeard(t, "bob→alice", bob.a.Send, alice.a.Last())
	for _, n := range []*relayNode{s1, s2} {
		if rs := n.m.RelayStats(); rs.Dropped[relay.DroppedBandwidth] != 0 {
			t.Errorf("%s dropped %d packets", n.u.Name, rs.Dropped[relay.DroppedBandwidth])
		}
	}
}

// TestRelayCircuit: a node that no dial-back proves reachable (bob: 127/8
// is not in his reachable_ranges) holds a circuit relay reservation at the
// super-node and lists the circuit address; a stranger reaches bob
// through that address alone, over a limited (relayed) connection.
func TestRelayCircuit(t *testing.T) {
	nw := callharness.NewNetwork(t)
	sam := startRelayNode(t, nw, relaySpec{name: "sam", cfg: superNode(10), ranges: loopbackRange})
	bob := startRelayNode(t, nw, relaySpec{name: "bob", cfg: clientNode()})
	waitFor(t, 20*time.Second, "sam is not a super-node", sam.m.Promoted)
	var circuit ma.Multiaddr
	waitFor(t, 20*time.Second, "bob lists no circuit address", func() bool {
		for _, a := range bob.n.Status().Addrs {
			if strings.Contains(a, "/p2p/"+sam.n.PeerID().String()+"/p2p-circuit") {
				circuit = ma.StringCast(a)
				return true
			}
		}
		return false
	})
	stranger, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	ctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(context.Background(), "test"), 15*time.Second)
	defer cancel()
	if err := stranger.Connect(ctx, peer.AddrInfo{ID: bob.n.PeerID(), Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatalf("connect to bob through %s: %v", circuit, err)
	}
	conns := stranger.Network().ConnsToPeer(bob.n.PeerID())
	if len(conns) == 0 || !conns[0].Stat().Limited {
		t.Fatalf("connections to bob %v: want one limited (relayed) connection", conns)
	}
}

// TestRelayGone: when a super-node goes away, its clients look the relays
// up again (backoff, jittered) and their next call's credentials come
// from the one still running.
func TestRelayGone(t *testing.T) {
	nw := callharness.NewNetwork(t)
	s1 := startRelayNode(t, nw, relaySpec{name: "sam", cfg: superNode(10), ranges: loopbackRange})
	s2 := startRelayNode(t, nw, relaySpec{name: "sue", cfg: superNode(10), ranges: loopbackRange})
	alice := startRelayNode(t, nw, relaySpec{name: "alice", cfg: clientNode()})
	waitFor(t, 20*time.Second, "sam and sue are not super-nodes", func() bool { return s1.m.Promoted() && s2.m.Promoted() })
	waitSuperNodes(t, alice, 2)
	gone, stays := s1, s2
	if alice.m.SuperNodes()[0].Relay == s2.n.PeerID() {
		gone, stays = s2, s1 // take the fastest away
	}
	nw.Stop(gone.n)
	waitFor(t, 20*time.Second, "alice still lists the stopped super-node", func() bool {
		l := alice.m.SuperNodes()
		return len(l) == 1 && l[0].Relay == stays.n.PeerID()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ch, err := alice.m.PickRelay(ctx, "", true)
	if err != nil || ch.Relay != stays.n.PeerID() {
		t.Fatalf("alice's relay after %s stopped: %s, %v; want %s", gone.u.Name, ch.Relay, err, stays.u.Name)
	}
}

// TestRelayedCallSharedPort: a super-node serves TURN over TCP, TURN over
// TLS and libp2p on one port (relay.shared_port). alice, on a restricted
// network (TCP and TLS relays only), calls bob through it: her credentials
// name the shared port, her node does TLS there checked against sam's
// key, the audio arrives both ways, and sam's libp2p listens on the
// shared port too.
func TestRelayedCallSharedPort(t *testing.T) {
	nw := callharness.NewNetwork(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	samCfg := superNode(10)
	samCfg.SharedPort = port
	sam := startRelayNode(t, nw, relaySpec{name: "sam", cfg: samCfg, ranges: loopbackRange})
	alice := startRelayNode(t, nw, relaySpec{name: "alice", cfg: clientNode(), restricted: true})
	bob := startRelayNode(t, nw, relaySpec{name: "bob", cfg: clientNode(), autoAnswer: true})
	shared := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)
	listens := false
	for _, a := range sam.n.Addrs() {
		listens = listens || a.String() == shared
	}
	if !listens {
		t.Errorf("sam's libp2p addresses %v lack the shared port %s", sam.n.Addrs(), shared)
	}
	waitFor(t, 20*time.Second, "sam is not a super-node", sam.m.Promoted)
	waitSuperNodes(t, alice, 1)
	ch, err := alice.m.PickRelay(callCtx(t), "", true)
	if err != nil {
		t.Fatal(err)
	}
	wantURL := fmt.Sprintf("turns:127.0.0.1:%d?transport=tcp", port)
	if len(ch.Servers) != 1 || !slices.Contains(ch.Servers[0].URLs, wantURL) || slices.Contains(ch.Servers[0].URLs, fmt.Sprintf("turn:127.0.0.1:%d?transport=tcp", port)) {
		t.Fatalf("alice's TURN servers from sam %+v; want %s and no plain TCP URL on the shared port (the dialer does TLS there)", ch.Servers, wantURL)
	}
	c := startCall(t, alice, "bob", false)
	waitHeard(t, c.done, bob.a, len(alice.a.Send))
	waitHeard(t, c.done, alice.a, len(bob.a.Send))
	c.end(t)
	if c.err != nil {
		t.Fatalf("restricted alice calls bob through the shared port: %v", c.err)
	}
	if s := c.res.Summary; s.Route != "relay" || s.RelayPeerID != sam.n.PeerID().String() {
		t.Errorf("summary route %q via %q, want relay via sam", s.Route, s.RelayPeerID)
	}
	if n := alice.m.TURNTLSDials(); n == 0 {
		t.Error("alice made no TURN-over-TLS connection checked against sam's key")
	}
	checkHeard(t, "alice→bob", alice.a.Send, bob.a.Last())
	checkHeard(t, "bob→alice", bob.a.Send, alice.a.Last())
}
