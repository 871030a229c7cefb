package admission

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	msmux "github.com/multiformats/go-multistream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/internal/attacker"
)

// The victims and certified callers listen on 127.0.0.1; attackers come
// from other /24s of 127.0.0.0/8 (all loopback on Linux), so that per-
// subnet caps see them as other networks.
var attackSources = []string{"127.0.1.2", "127.0.2.2", "127.0.3.2", "127.0.4.2"}

type testDir struct {
	key ed25519.PrivateKey
	pub ed25519.PublicKey
	// serial numbers the certificates it issues; revoked, when set, is
	// every node's revocation list.
	serial  atomic.Uint64
	revoked func(serial uint64) bool
}

func newDir(t testing.TB) *testDir {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &testDir{key: k, pub: k.Public().(ed25519.PublicKey)}
}

// testNode is a libp2p host under admission, with a certificate of dir
// (or of another directory when foreign).
type testNode struct {
	h   host.Host
	adm *Admission
	reg *prometheus.Registry
	// known holds the peers Config.Known reports (a host cache's)
	known *sync.Map
	// signalling streams being answered now, and the most at once
	answering, mostAnswering atomic.Int64
}

// answer counts the streams being answered around answerInvite.
func (n *testNode) answer(s network.Stream) {
	now := n.answering.Add(1)
	defer n.answering.Add(-1)
	for m := n.mostAnswering.Load(); now > m && !n.mostAnswering.CompareAndSwap(m, now); m = n.mostAnswering.Load() {
	}
	answerInvite(s)
}

func (d *testDir) node(t testing.TB, lim Limits, foreign bool) *testNode {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer := d.key
	if foreign {
		signer = newDir(t).key
	}
	cert, err := crypto.IssueCertificate(signer, fmt.Sprintf("user%x", key[32:36]), key.Public().(ed25519.PublicKey), d.serial.Add(1), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	known := &sync.Map{}
	adm, err := New(Config{DirectoryKey: d.pub, Certificate: func() (*crypto.Certificate, error) { return cert, nil },
		Revoked: d.revoked, Limits: lim, Registry: reg, Logger: testLogger(),
		Known: func(p peer.ID) bool { _, ok := known.Load(p); return ok }})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := adm.HostOptions()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ic.UnmarshalEd25519PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(append(opts, libp2p.Identity(priv), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableRelay(), libp2p.DisableMetrics())...)
	if err != nil {
		t.Fatal(err)
	}
	adm.Start(h)
	n := &testNode{h: h, adm: adm, reg: reg, known: known}
	h.SetStreamHandler(SignalProtocol, adm.GuardSignal(n.answer))
	t.Cleanup(func() {
		adm.Close()
		h.Close()
	})
	return n
}

// plainHost is a host with libp2p's defaults and no admission: the
// undefended victim, or a peer that speaks no hello (reach's dial-back
// dialer, a node of an older version).
func plainHost(t testing.TB, handler bool) host.Host {
	t.Helper()
	return plainHostWaiting(t, handler, 10*time.Second)
}

// plainHostWaiting is plainHost whose handler waits for an INVITE up to
// wait.
func plainHostWaiting(t testing.TB, handler bool, wait time.Duration) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	if handler {
		h.SetStreamHandler(SignalProtocol, func(s network.Stream) { answerInviteWithin(s, wait) })
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// answerInvite stands for signalling's handler: it waits up to 10 s (the
// signalling default) for an INVITE ("INV!") and answers "OK!!".
func answerInvite(s network.Stream) { answerInviteWithin(s, 10*time.Second) }

func answerInviteWithin(s network.Stream, wait time.Duration) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(wait))
	b := make([]byte, 4)
	if _, err := io.ReadFull(s, b); err != nil || string(b) != "INV!" {
		_ = s.Reset()
		return
	}
	_, _ = s.Write([]byte("OK!!"))
}

// ring is a call's signalling from h to callee: connect, (with
// admission, wait for the hello), open the stream, INVITE, and get the
// answer.
func ring(ctx context.Context, h host.Host, adm *Admission, callee peer.AddrInfo) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, callee); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if adm != nil {
		if err := adm.WaitCertified(ctx, callee.ID); err != nil {
			return err
		}
	}
	s, err := h.NewStream(ctx, callee.ID, SignalProtocol)
	if err != nil {
		return fmt.Errorf("open stream: %w", err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Write([]byte("INV!")); err != nil {
		return fmt.Errorf("invite: %w", err)
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(s, b); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	if string(b) != "OK!!" {
		return fmt.Errorf("answer %q", b)
	}
	return nil
}

func addrInfo(h host.Host) peer.AddrInfo { return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()} }

// waitPlateau waits (at most 20 s) until the attack holds streams and
// stopped gaining for a second.
func waitPlateau(t *testing.T, sa *attacker.StreamAttack) int64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last int64 = -1
	stable := 0
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		f := sa.Figures()
		if n := f.MaxHeld; n == last && f.Streams+f.StreamsRefuse > 0 {
			if stable++; stable == 4 {
				return n
			}
		} else {
			last, stable = n, 0
		}
	}
	return last
}

func refusals(t *testing.T, reg *prometheus.Registry) map[string]int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, mf := range mfs {
		if mf.GetName() != "peercall_admission_refusals_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v > 0 {
				out[m.GetLabel()[0].GetValue()] = int(v)
			}
		}
	}
	return out
}

// floodIdentities is enough stream-holding identities to exceed libp2p's
// default inbound stream limit of one protocol on this machine (each
// identity is held to the per-peer protocol limit).
// It returns the identities and that limit.
func floodIdentities() (int, int) {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	cfg := scaling.AutoScale().ToPartialLimitConfig()
	proto := build(cfg.ProtocolDefault).StreamsInbound
	perPeer := build(cfg.ProtocolPeerDefault).StreamsInbound
	return int(math.Ceil(float64(proto)/float64(perPeer))) + 4, proto
}

// TestSignalFloodUndefended reproduces the attack on a host with libp2p's
// defaults: identities without any account hold idle signalling streams,
// and a caller's stream is refused (libp2p's stream limit). The issue's
// attackers re-open each stream every 8 s to outlast signalling's 10 s
// INVITE deadline; here the victim waits a minute instead, so that the
// limit stays full while the caller tries (re-opening leaves gaps a
// caller may slip through now and then, which would make the outcome a
// matter of luck).
func TestSignalFloodUndefended(t *testing.T) {
	victim := plainHostWaiting(t, true, time.Minute)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	n, limit := floodIdentities()
	sa := attacker.Streams(ctx, attacker.StreamsConfig{Target: addrInfo(victim), Protocol: SignalProtocol,
		Sources: attackSources, Identities: n, Streams: 150, Reopen: time.Minute})
	// Until the attack holds the protocol's whole limit (the refused
	// attackers retry every 200 ms and fill what frees up).
	deadline := time.Now().Add(40 * time.Second)
	for sa.Held() < int64(limit) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	held := sa.Held()
	if held < int64(limit)-1 {
		t.Fatalf("the attack held only %d streams of the limit %d after 40 s (is the machine overloaded?)", held, limit)
	}
	err := ring(context.Background(), plainHost(t, false), nil, addrInfo(victim))
	stop()
	f := sa.Wait()
	t.Logf("%d identities held %d streams (%+v); the caller: %v", n, held, f, err)
	if err == nil {
		t.Fatalf("the caller got through an undefended host while %d streams were held: the attack no longer reproduces", held)
	}
}

// TestSignalFloodDefended: the same attack on a host under admission; a
// certified caller rings every time, and the attackers hold at most
// their budget.
func TestSignalFloodDefended(t *testing.T) {
	d := newDir(t)
	victim := d.node(t, Limits{}, false)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	n, _ := floodIdentities()
	sa := attacker.Streams(ctx, attacker.StreamsConfig{Target: addrInfo(victim.h), Protocol: SignalProtocol,
		Sources: attackSources, Identities: n, Streams: 150})
	held := waitPlateau(t, sa)
	for i := range 3 {
		caller := d.node(t, Limits{}, false)
		if err := ring(context.Background(), caller.h, caller.adm, addrInfo(victim.h)); err != nil {
			t.Errorf("certified caller %d under attack: %v", i, err)
		}
	}
	stop()
	f := sa.Wait()
	got := refusals(t, victim.reg)
	t.Logf("%d identities held at most %d streams (%+v); the victim answered at most %d at once; refusals %v", n, held, f, victim.mostAnswering.Load(), got)
	// The victim answered at most one stream per uncertified peer (and
	// the callers' own).
	lim := DefaultLimits()
	if most, max := victim.mostAnswering.Load(), int64(lim.MaxUncertified*lim.UncertifiedSignal+3); most > max {
		t.Errorf("the victim answered %d signalling streams at once, want at most %d", most, max)
	}
	if len(got) == 0 {
		t.Error("no refusal was counted")
	}
}

// TestNewcomerNotEvicted: a connection flood from two attacking subnets
// is capped (per subnet and in all, the oldest evicted), and an
// uncertified newcomer from another subnet (here a host without
// admission, as reach's dial-back dialer) is never the one evicted.
func TestNewcomerNotEvicted(t *testing.T) {
	d := newDir(t)
	lim := Limits{MaxUncertified: 8, MaxUncertifiedPerSubnet: 4, HelloTimeout: time.Minute}
	victim := d.node(t, lim, false)
	newcomer := plainHost(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// First attackers from one subnet (over its cap), then the newcomer,
	// then the bulk of the flood from three subnets (over the global cap).
	early := attacker.Conns(ctx, attacker.ConnsConfig{Target: addrInfo(victim.h), Sources: attackSources[:1], Identities: 8})
	<-early.Dialled()
	defer early.Close()
	if err := newcomer.Connect(ctx, addrInfo(victim.h)); err != nil {
		t.Fatalf("newcomer: %v", err)
	}
	flood := attacker.Conns(ctx, attacker.ConnsConfig{Target: addrInfo(victim.h), Sources: attackSources[:3], Identities: 40})
	<-flood.Dialled()
	defer flood.Close()
	// Evictions are asynchronous: wait until the flood is down to the cap.
	for ctx.Err() == nil && early.Held(victim.h.ID())+flood.Held(victim.h.ID()) > lim.MaxUncertified-1 {
		time.Sleep(50 * time.Millisecond)
	}
	held := early.Held(victim.h.ID()) + flood.Held(victim.h.ID())
	if held > lim.MaxUncertified-1 {
		t.Errorf("%d flooding identities connected, want at most %d (the cap less the newcomer)", held, lim.MaxUncertified-1)
	}
	if newcomer.Network().Connectedness(victim.h.ID()) != network.Connected {
		t.Error("the newcomer from a quiet subnet was evicted by the flood")
	}
	got := refusals(t, victim.reg)
	if got[ReasonSubnetFull] == 0 || got[ReasonUncertifiedFull] == 0 {
		t.Errorf("refusals %v: want evictions for a full subnet and for the global cap", got)
	}
	t.Logf("refusals %v, flood %+v", got, flood.Figures())
}

// TestHelloDeadline: a peer that presents no certificate is disconnected
// after HelloTimeout and refused for Cooldown; a certified peer (hello
// both ways) stays, and has the victim certified too.
func TestHelloDeadline(t *testing.T) {
	d := newDir(t)
	victim := d.node(t, Limits{HelloTimeout: 300 * time.Millisecond}, false)
	certified := d.node(t, Limits{}, false)
	silent := plainHost(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, h := range []host.Host{certified.h, silent} {
		if err := h.Connect(ctx, addrInfo(victim.h)); err != nil {
			t.Fatal(err)
		}
	}
	if err := certified.adm.WaitCertified(ctx, victim.h.ID()); err != nil {
		t.Fatalf("hello: %v", err)
	}
	if !victim.adm.Certified(certified.h.ID()) {
		t.Error("the victim did not certify the peer that sent a valid hello")
	}
	// Asked to wait for a peer that sent no hello, the victim sends its
	// own; the silent peer speaks no hello, so it stays uncertified.
	if err := victim.adm.WaitCertified(ctx, silent.ID()); !errors.Is(err, ErrUncertified) {
		t.Errorf("WaitCertified(silent peer) = %v, want ErrUncertified", err)
	}
	for ctx.Err() == nil && silent.Network().Connectedness(victim.h.ID()) == network.Connected {
		time.Sleep(50 * time.Millisecond)
	}
	if silent.Network().Connectedness(victim.h.ID()) == network.Connected {
		t.Fatal("the silent peer is still connected")
	}
	if certified.h.Network().Connectedness(victim.h.ID()) != network.Connected {
		t.Error("the certified peer was disconnected")
	}
	silent.Peerstore().AddAddrs(victim.h.ID(), victim.h.Addrs(), time.Minute)
	if err := silent.Connect(network.WithForceDirectDial(ctx, "retry"), addrInfo(victim.h)); err == nil {
		// The gater refuses after the handshake: the dialer may see the
		// connection come up and go at once.
		for ctx.Err() == nil && silent.Network().Connectedness(victim.h.ID()) == network.Connected {
			time.Sleep(50 * time.Millisecond)
		}
	}
	got := refusals(t, victim.reg)
	if got[ReasonHelloTimeout] != 1 || got[ReasonCooldown] == 0 {
		t.Errorf("refusals %v: want one hello_timeout and a cooldown", got)
	}
}

// TestBadCertificate: a hello with another directory's certificate is
// refused, and the peer that dialled is disconnected.
func TestBadCertificate(t *testing.T) {
	d := newDir(t)
	victim := d.node(t, Limits{}, false)
	stranger := d.node(t, Limits{}, true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := stranger.h.Connect(ctx, addrInfo(victim.h)); err != nil {
		t.Fatal(err)
	}
	if err := stranger.adm.WaitCertified(ctx, victim.h.ID()); err == nil {
		t.Error("the victim answered a hello with a foreign certificate")
	}
	for ctx.Err() == nil && stranger.h.Network().Connectedness(victim.h.ID()) == network.Connected {
		time.Sleep(50 * time.Millisecond)
	}
	if victim.adm.Certified(stranger.h.ID()) || stranger.h.Network().Connectedness(victim.h.ID()) == network.Connected {
		t.Error("the stranger is certified or still connected")
	}
	if got := refusals(t, victim.reg); got[ReasonBadCertificate] != 1 {
		t.Errorf("refusals %v: want one bad_certificate", got)
	}
}

// TestRevokedCertificate: a hello with a certificate on the revocation
// list is refused (counted as revoked_certificate) and the peer that
// dialled is disconnected; a valid one is still certified.
func TestRevokedCertificate(t *testing.T) {
	d := newDir(t)
	var revokedSerial atomic.Uint64
	d.revoked = func(serial uint64) bool { return serial == revokedSerial.Load() }
	victim := d.node(t, Limits{}, false)
	stolen := d.node(t, Limits{}, false)
	friend := d.node(t, Limits{}, false)
	revokedSerial.Store(d.serial.Load() - 1) // stolen's
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range []*testNode{stolen, friend} {
		if err := n.h.Connect(ctx, addrInfo(victim.h)); err != nil {
			t.Fatal(err)
		}
	}
	if err := friend.adm.WaitCertified(ctx, victim.h.ID()); err != nil {
		t.Fatalf("a valid certificate's hello: %v", err)
	}
	if err := stolen.adm.WaitCertified(ctx, victim.h.ID()); err == nil {
		t.Error("the victim answered a hello with a revoked certificate")
	}
	for ctx.Err() == nil && stolen.h.Network().Connectedness(victim.h.ID()) == network.Connected {
		time.Sleep(50 * time.Millisecond)
	}
	if victim.adm.Certified(stolen.h.ID()) || stolen.h.Network().Connectedness(victim.h.ID()) == network.Connected {
		t.Error("the revoked peer is certified or still connected")
	}
	if !victim.adm.Certified(friend.h.ID()) {
		t.Error("the valid peer is not certified")
	}
	if got := refusals(t, victim.reg); got[ReasonRevoked] != 1 || got[ReasonBadCertificate] != 0 {
		t.Errorf("refusals %v: want one revoked_certificate", got)
	}
}

// TestPeerBudgets: a certified peer opens more streams than an
// uncertified peer's budget; an uncertified one is held to it.
func TestPeerBudgets(t *testing.T) {
	d := newDir(t)
	victim := d.node(t, Limits{HelloTimeout: time.Minute}, false)
	const hold = protocol.ID("/test/hold/1")
	release := make(chan struct{})
	victim.h.SetStreamHandler(hold, func(s network.Stream) {
		select {
		case <-release:
		case <-time.After(20 * time.Second):
		}
		s.Reset()
	})
	defer close(release)
	certified := d.node(t, Limits{}, false)
	uncertified := plainHost(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := certified.h.Connect(ctx, addrInfo(victim.h)); err != nil {
		t.Fatal(err)
	}
	if err := certified.adm.WaitCertified(ctx, victim.h.ID()); err != nil {
		t.Fatal(err)
	}
	if err := uncertified.Connect(ctx, addrInfo(victim.h)); err != nil {
		t.Fatal(err)
	}
	open := func(h host.Host, n int) int {
		ok := 0
		for range n {
			s, err := h.Network().NewStream(ctx, victim.h.ID())
			if err != nil {
				continue
			}
			_ = s.SetDeadline(time.Now().Add(2 * time.Second))
			if msmux.SelectProtoOrFail(hold, s) == nil {
				if _, err := s.Write([]byte{1}); err == nil {
					// A refused stream is reset: a read sees it at once.
					_ = s.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
					if _, err := s.Read(make([]byte, 1)); err != nil && isTimeout(err) {
						ok++
						continue
					}
				}
			}
			s.Reset()
		}
		return ok
	}
	lim := DefaultLimits()
	if got := open(certified.h, 3*lim.Uncertified.StreamsInbound); got != 3*lim.Uncertified.StreamsInbound {
		t.Errorf("certified peer held %d streams, want %d", got, 3*lim.Uncertified.StreamsInbound)
	}
	if got := open(uncertified, 3*lim.Uncertified.StreamsInbound); got == 0 || got > lim.Uncertified.StreamsInbound {
		t.Errorf("uncertified peer held %d streams, want 1..%d", got, lim.Uncertified.StreamsInbound)
	}
}

func isTimeout(err error) bool {
	te, ok := err.(interface{ Timeout() bool })
	return ok && te.Timeout()
}

// TestLimitConfig: the resource manager's limits are libp2p's defaults
// plus the uncertified peers' whole budget, and the per-peer caps of the
// peercall protocols.
func TestLimitConfig(t *testing.T) {
	lim := DefaultLimits()
	got, certified := lim.limitConfig()
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	def := scaling.AutoScale().ToPartialLimitConfig()
	g := got.ToPartialLimitConfig()
	all := lim.uncertifiedTotal()
	tests := []struct {
		name      string
		got, want int64
	}{
		{"system inbound streams", int64(build(g.System).StreamsInbound), int64(build(def.System).StreamsInbound + all.StreamsInbound)},
		{"system inbound conns", int64(build(g.System).ConnsInbound), int64(build(def.System).ConnsInbound + all.ConnsInbound)},
		{"system memory", build(g.System).Memory, build(def.System).Memory + all.Memory},
		{"transient inbound streams", int64(build(g.Transient).StreamsInbound), int64(build(def.Transient).StreamsInbound + all.StreamsInbound)},
		{"protocol default inbound streams", int64(build(g.ProtocolDefault).StreamsInbound), int64(build(def.ProtocolDefault).StreamsInbound + all.StreamsInbound)},
		{"signal per peer", int64(build(g.ProtocolPeer[SignalProtocol]).StreamsInbound), int64(lim.SignalPerPeer)},
		{"hello per peer", int64(build(g.ProtocolPeer[HelloProtocol]).StreamsInbound), 2},
		{"certified peer inbound streams", int64(certified.StreamsInbound), int64(build(def.PeerDefault).StreamsInbound)},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	for svc, l := range def.Service {
		if got, want := build(g.Service[svc]).StreamsInbound, build(l).StreamsInbound+all.StreamsInbound; got != want {
			t.Errorf("service %s inbound streams %d, want %d", svc, got, want)
		}
	}
	if !bytes.Equal([]byte(KadProtocol), []byte("/peercall/kad/1.0.0")) {
		t.Error("kad protocol")
	}
}

func TestConfigRefused(t *testing.T) {
	d := newDir(t)
	cert := func() (*crypto.Certificate, error) { return nil, nil }
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no directory key", Config{Certificate: cert}},
		{"no certificate", Config{DirectoryKey: d.pub}},
		{"per subnet above total", Config{DirectoryKey: d.pub, Certificate: cert, Limits: Limits{MaxUncertified: 4, MaxUncertifiedPerSubnet: 8}}},
		{"negative timeout", Config{DirectoryKey: d.pub, Certificate: cert, Limits: Limits{HelloTimeout: -time.Second}}},
	}
	for _, tc := range tests {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func mustAddr(t *testing.T, s string) ma.Multiaddr {
	t.Helper()
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// testLogger discards unless PEERCALL_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("PEERCALL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func TestSubnetOf(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/ip4/192.0.2.77/tcp/1", "192.0.2.0/24"},
		{"/ip6/2001:db8:1:2ff::1/udp/1/quic-v1", "2001:db8:1:200::/56"},
		{"/ip4/198.51.100.9/tcp/1/p2p/12D3KooWRBhwfeP2Y4TCx1SM6s9rUoHhR5STiGwxBhgFRcw3UERE/p2p-circuit", "198.51.100.0/24"},
		{"/dns/example.com/tcp/1", "unknown"},
	}
	for _, tc := range tests {
		if got := subnetOf(mustAddr(t, tc.in)); got != tc.want {
			t.Errorf("subnetOf(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
