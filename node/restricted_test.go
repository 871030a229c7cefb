package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/relay"
)

func res(kind probeKind, addr string, ok bool) probeResult {
	return probeResult{probeTarget: probeTarget{kind: kind, addr: addr}, ok: ok}
}

func TestJudgeProbes(t *testing.T) {
	tests := []struct {
		name string
		in   []probeResult
		want restrictedVerdict
	}{
		{"nothing probed", nil, verdictUnknown},
		{"only 443 works", []probeResult{
			res(probeTCP443, "192.0.2.1:443", true),
			res(probeTCPOther, "192.0.2.1:7070", false),
			res(probeUDP, "192.0.2.1:7070", false),
		}, verdictRestricted},
		{"UDP works", []probeResult{
			res(probeTCP443, "192.0.2.1:443", true),
			res(probeTCPOther, "192.0.2.1:7070", false),
			res(probeUDP, "192.0.2.2:7070", true),
		}, verdictOpen},
		{"TCP 7070 works", []probeResult{
			res(probeTCPOther, "192.0.2.1:7070", true),
			res(probeUDP, "192.0.2.2:7070", false),
		}, verdictOpen},
		{"443 fails too: offline, not restricted", []probeResult{
			res(probeTCP443, "192.0.2.1:443", false),
			res(probeTCPOther, "192.0.2.1:7070", false),
			res(probeUDP, "192.0.2.1:7070", false),
		}, verdictUnknown},
		{"no UDP target failed: not proven", []probeResult{
			res(probeTCP443, "192.0.2.1:443", true),
			res(probeTCPOther, "192.0.2.1:7070", false),
		}, verdictUnknown},
		{"no other TCP target failed: not proven", []probeResult{
			res(probeTCP443, "192.0.2.1:443", true),
			res(probeUDP, "192.0.2.1:443", false),
		}, verdictUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why := judgeProbes(tc.in)
			if got != tc.want {
				t.Fatalf("verdict %d (%s); want %d", got, why, tc.want)
			}
			if got == verdictRestricted && !strings.Contains(why, "restricted network") {
				t.Errorf("reason %q does not say restricted network", why)
			}
		})
	}
}

func TestTargetOf(t *testing.T) {
	tests := []struct {
		addr string
		want probeTarget
		ok   bool
	}{
		{"/ip4/192.0.2.1/tcp/443", probeTarget{probeTCP443, "192.0.2.1:443"}, true},
		{"/ip4/192.0.2.1/tcp/7070", probeTarget{probeTCPOther, "192.0.2.1:7070"}, true},
		{"/ip4/192.0.2.1/udp/7070/quic-v1", probeTarget{probeUDP, "192.0.2.1:7070"}, true},
		{"/ip6/2001:db8::1/udp/443/quic-v1", probeTarget{probeUDP, "[2001:db8::1]:443"}, true},
		{"/ip4/192.0.2.1/tcp/443/p2p/12D3KooWDrrfJAdthoAHod6vRrfA68xNrCKHQAAmCS9g5JYUk5Sc", probeTarget{probeTCP443, "192.0.2.1:443"}, true},
		{"/ip4/127.0.0.1/tcp/7070", probeTarget{}, false},
		{"/ip4/0.0.0.0/tcp/7070", probeTarget{}, false},
		{"/ip4/192.0.2.1/udp/7070", probeTarget{}, false},
		{"/ip4/192.0.2.1/tcp/443/ws", probeTarget{}, false},
		{"/ip4/192.0.2.1/tcp/443/p2p/12D3KooWDrrfJAdthoAHod6vRrfA68xNrCKHQAAmCS9g5JYUk5Sc/p2p-circuit", probeTarget{}, false},
		{"/dns4/example.com/tcp/443", probeTarget{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			got, ok := targetOf(ma.StringCast(tc.addr))
			if ok != tc.ok || got != tc.want {
				t.Fatalf("targetOf = %+v, %t; want %+v, %t", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// fakeFirewall is a fake network for the detector (a real firewall needs
// network namespaces: the netlab scenario 4 has one): it lets out the
// target kinds in open.
type fakeFirewall struct {
	mu    sync.Mutex
	open  map[probeKind]bool
	calls int
}

func (f *fakeFirewall) probe(ctx context.Context, t probeTarget) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.open[t.kind] {
		return nil
	}
	return errors.New("timeout (fake firewall)")
}

func (f *fakeFirewall) set(open ...probeKind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.open = map[probeKind]bool{}
	for _, k := range open {
		f.open[k] = true
	}
}

func TestRestrictedDetector(t *testing.T) {
	fw := &fakeFirewall{}
	var targets []probeTarget
	for _, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"} {
		targets = append(targets,
			probeTarget{probeTCP443, a + ":443"},
			probeTarget{probeTCPOther, a + ":7070"},
			probeTarget{probeUDP, a + ":7070"})
	}
	d := &restrictedDetector{
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		known:   func() []probeResult { return nil },
		targets: func() []probeTarget { return targets },
		probe:   fw.probe,
	}
	steps := []struct {
		name       string
		open       []probeKind
		want       restrictedVerdict
		restricted bool
	}{
		{"everything gets out", []probeKind{probeTCP443, probeTCPOther, probeUDP}, verdictOpen, false},
		{"only TCP 443", []probeKind{probeTCP443}, verdictRestricted, true},
		{"offline keeps the verdict", nil, verdictUnknown, true},
		{"UDP works again", []probeKind{probeTCP443, probeUDP}, verdictOpen, false},
	}
	for _, s := range steps {
		fw.set(s.open...)
		fw.calls = 0
		if got := d.check(context.Background()); got != s.want {
			t.Fatalf("%s: verdict %d; want %d", s.name, got, s.want)
		}
		if r, why := d.state(); r != s.restricted {
			t.Fatalf("%s: restricted %t (%s); want %t", s.name, r, why, s.restricted)
		}
		if fw.calls > 3*restrictedProbeTargets {
			t.Fatalf("%s: %d probes; want at most %d", s.name, fw.calls, 3*restrictedProbeTargets)
		}
	}
	// A live UDP connection is proof enough: no probe at all.
	d.known = func() []probeResult { return []probeResult{res(probeUDP, "192.0.2.9:7070", true)} }
	fw.set()
	fw.calls = 0
	if got := d.check(context.Background()); got != verdictOpen || fw.calls != 0 {
		t.Fatalf("with a live UDP connection: verdict %d after %d probes; want open after none", got, fw.calls)
	}
}

// TestDialProbe dials real loopback sockets: a TCP listener, a closed TCP
// port, a libp2p QUIC listener (which refuses our certificate-less
// client, and so answers) and a UDP socket that never answers.
func TestDialProbe(t *testing.T) {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var quicAddr string
	for _, a := range h.Addrs() {
		if tg, ok := targetOfAny(a); ok {
			quicAddr = tg
		}
	}
	if quicAddr == "" {
		t.Fatalf("no QUIC address in %v", h.Addrs())
	}
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	tests := []struct {
		name   string
		target probeTarget
		ok     bool
	}{
		{"TCP listener", probeTarget{probeTCPOther, tl.Addr().String()}, true},
		{"closed TCP port", probeTarget{probeTCPOther, closedAddr}, false},
		{"libp2p QUIC", probeTarget{probeUDP, quicAddr}, true},
		{"silent UDP", probeTarget{probeUDP, silent.LocalAddr().String()}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			err := dialProbe(ctx, tc.target)
			if (err == nil) != tc.ok {
				t.Fatalf("dialProbe(%v) = %v; want ok %t", tc.target, err, tc.ok)
			}
		})
	}
}

// targetOfAny is targetOf without the loopback filter, for loopback tests.
func targetOfAny(a ma.Multiaddr) (string, bool) {
	s := a.String()
	if !strings.Contains(s, "quic-v1") {
		return "", false
	}
	parts := strings.Split(s, "/")
	return net.JoinHostPort(parts[2], parts[4]), true
}

func TestTCPTURNOnly(t *testing.T) {
	in := []webrtc.ICEServer{
		{URLs: []string{"turn:192.0.2.1:443?transport=udp", "turn:192.0.2.1:443?transport=tcp", "turns:192.0.2.1:5349?transport=tcp"}, Username: "u", Credential: "c"},
		{URLs: []string{"turn:192.0.2.2:3478?transport=udp"}},
	}
	got := tcpTURNOnly(in)
	want := []webrtc.ICEServer{
		{URLs: []string{"turn:192.0.2.1:443?transport=tcp", "turns:192.0.2.1:5349?transport=tcp"}, Username: "u", Credential: "c"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("tcpTURNOnly = %+v; want %+v", got, want)
	}
}

// TestRelayManagerRestricted: a relay manager on a real host (relay.mode
// on) whose detector sees a fake 443-only firewall says restricted in its
// status, stays a client, makes calls relay-only, and clears it once UDP
// gets out again.
func TestRelayManagerRestricted(t *testing.T) {
	h := loopbackHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dirKey, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDHT(ctx, h, DHTConfig{DirectoryKey: dirKey, Mode: DHTModeServer})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fw := &fakeFirewall{}
	fw.set(probeTCP443)
	targets := []probeTarget{{probeTCP443, "192.0.2.1:443"}, {probeTCPOther, "192.0.2.1:7070"}, {probeUDP, "192.0.2.1:7070"}}
	cfg := DefaultRelayConfig()
	cfg.Mode = relay.ModeOn
	cfg.MaxCPULoad = 1
	m, err := newRelayManager(relayDeps{
		host: h, dht: d, dirKey: dirKey, network: NetworkConfig{ReachableRanges: []string{"127.0.0.0/8"}},
		log: slog.New(slog.DiscardHandler), calls: func() int { return 0 },
	}, cfg, RelayOptions{Interval: 50 * time.Millisecond, restricted: &restrictedDetector{
		known: func() []probeResult { return nil }, targets: func() []probeTarget { return targets }, probe: fw.probe,
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !m.Restricted() {
		if time.Now().After(deadline) {
			t.Fatalf("not restricted %v after start behind a 443-only firewall", 10*time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a few promotion steps
	role, reason, reach, _ := m.Status()
	if role != "client" || reach != string(ReachabilityRestricted) || !strings.Contains(reason, "only TCP 443") {
		t.Fatalf("status: role %q (%s), reachability %q; want a restricted client saying why", role, reason, reach)
	}
	fw.set(probeTCP443, probeUDP)
	if v := m.detect.check(ctx); v != verdictOpen || m.Restricted() {
		t.Fatalf("UDP gets out again: verdict %d, restricted %t; want open, not restricted", v, m.Restricted())
	}
	if _, _, reach, _ := m.Status(); reach == string(ReachabilityRestricted) {
		t.Fatalf("reachability still %q once UDP gets out", reach)
	}
}
