package reach

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	ma "github.com/multiformats/go-multiaddr"
)

func res(kind ProbeKind, addr string, ok bool) ProbeResult {
	return ProbeResult{ProbeTarget: ProbeTarget{Kind: kind, Addr: addr}, OK: ok}
}

func TestJudgeProbes(t *testing.T) {
	tests := []struct {
		name string
		in   []ProbeResult
		want Verdict
	}{
		{"nothing probed", nil, VerdictUnknown},
		{"only 443 works", []ProbeResult{
			res(ProbeTCP443, "192.0.2.1:443", true),
			res(ProbeTCPOther, "192.0.2.1:7070", false),
			res(ProbeUDP, "192.0.2.1:7070", false),
		}, VerdictRestricted},
		{"UDP works", []ProbeResult{
			res(ProbeTCP443, "192.0.2.1:443", true),
			res(ProbeTCPOther, "192.0.2.1:7070", false),
			res(ProbeUDP, "192.0.2.2:7070", true),
		}, VerdictOpen},
		{"TCP 7070 works", []ProbeResult{
			res(ProbeTCPOther, "192.0.2.1:7070", true),
			res(ProbeUDP, "192.0.2.2:7070", false),
		}, VerdictOpen},
		{"443 fails too: offline, not restricted", []ProbeResult{
			res(ProbeTCP443, "192.0.2.1:443", false),
			res(ProbeTCPOther, "192.0.2.1:7070", false),
			res(ProbeUDP, "192.0.2.1:7070", false),
		}, VerdictUnknown},
		{"no UDP target failed: not proven", []ProbeResult{
			res(ProbeTCP443, "192.0.2.1:443", true),
			res(ProbeTCPOther, "192.0.2.1:7070", false),
		}, VerdictUnknown},
		{"no other TCP target failed: not proven", []ProbeResult{
			res(ProbeTCP443, "192.0.2.1:443", true),
			res(ProbeUDP, "192.0.2.1:443", false),
		}, VerdictUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why := Judge(tc.in)
			if got != tc.want {
				t.Fatalf("verdict %d (%s); want %d", got, why, tc.want)
			}
			if got == VerdictRestricted && !strings.Contains(why, "restricted network") {
				t.Errorf("reason %q does not say restricted network", why)
			}
		})
	}
}

func TestTargetOf(t *testing.T) {
	tests := []struct {
		addr string
		want ProbeTarget
		ok   bool
	}{
		{"/ip4/192.0.2.1/tcp/443", ProbeTarget{ProbeTCP443, "192.0.2.1:443"}, true},
		{"/ip4/192.0.2.1/tcp/7070", ProbeTarget{ProbeTCPOther, "192.0.2.1:7070"}, true},
		{"/ip4/192.0.2.1/udp/7070/quic-v1", ProbeTarget{ProbeUDP, "192.0.2.1:7070"}, true},
		{"/ip6/2001:db8::1/udp/443/quic-v1", ProbeTarget{ProbeUDP, "[2001:db8::1]:443"}, true},
		{"/ip4/192.0.2.1/tcp/443/p2p/12D3KooWDrrfJAdthoAHod6vRrfA68xNrCKHQAAmCS9g5JYUk5Sc", ProbeTarget{ProbeTCP443, "192.0.2.1:443"}, true},
		{"/ip4/127.0.0.1/tcp/7070", ProbeTarget{}, false},
		{"/ip4/0.0.0.0/tcp/7070", ProbeTarget{}, false},
		{"/ip4/192.0.2.1/udp/7070", ProbeTarget{}, false},
		{"/ip4/192.0.2.1/tcp/443/ws", ProbeTarget{}, false},
		{"/ip4/192.0.2.1/tcp/443/p2p/12D3KooWDrrfJAdthoAHod6vRrfA68xNrCKHQAAmCS9g5JYUk5Sc/p2p-circuit", ProbeTarget{}, false},
		{"/dns4/example.com/tcp/443", ProbeTarget{}, false},
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
	open  map[ProbeKind]bool
	calls int
}

func (f *fakeFirewall) probe(ctx context.Context, t ProbeTarget) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.open[t.Kind] {
		return nil
	}
	return errors.New("timeout (fake firewall)")
}

func (f *fakeFirewall) set(open ...ProbeKind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.open = map[ProbeKind]bool{}
	for _, k := range open {
		f.open[k] = true
	}
}

func TestRestrictedDetector(t *testing.T) {
	fw := &fakeFirewall{}
	var targets []ProbeTarget
	for _, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"} {
		targets = append(targets,
			ProbeTarget{ProbeTCP443, a + ":443"},
			ProbeTarget{ProbeTCPOther, a + ":7070"},
			ProbeTarget{ProbeUDP, a + ":7070"})
	}
	d := &Detector{
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Known:   func() []ProbeResult { return nil },
		Targets: func() []ProbeTarget { return targets },
		Probe:   fw.probe,
	}
	steps := []struct {
		name       string
		open       []ProbeKind
		want       Verdict
		restricted bool
	}{
		{"everything gets out", []ProbeKind{ProbeTCP443, ProbeTCPOther, ProbeUDP}, VerdictOpen, false},
		{"only TCP 443", []ProbeKind{ProbeTCP443}, VerdictRestricted, true},
		{"offline keeps the verdict", nil, VerdictUnknown, true},
		{"UDP works again", []ProbeKind{ProbeTCP443, ProbeUDP}, VerdictOpen, false},
	}
	for _, s := range steps {
		fw.set(s.open...)
		fw.calls = 0
		if got := d.Check(context.Background()); got != s.want {
			t.Fatalf("%s: verdict %d; want %d", s.name, got, s.want)
		}
		if r, why := d.State(); r != s.restricted {
			t.Fatalf("%s: restricted %t (%s); want %t", s.name, r, why, s.restricted)
		}
		if fw.calls > 3*restrictedProbeTargets {
			t.Fatalf("%s: %d probes; want at most %d", s.name, fw.calls, 3*restrictedProbeTargets)
		}
	}
	// A live UDP connection is proof enough: no probe at all.
	d.Known = func() []ProbeResult { return []ProbeResult{res(ProbeUDP, "192.0.2.9:7070", true)} }
	fw.set()
	fw.calls = 0
	if got := d.Check(context.Background()); got != VerdictOpen || fw.calls != 0 {
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
		target ProbeTarget
		ok     bool
	}{
		{"TCP listener", ProbeTarget{ProbeTCPOther, tl.Addr().String()}, true},
		{"closed TCP port", ProbeTarget{ProbeTCPOther, closedAddr}, false},
		{"libp2p QUIC", ProbeTarget{ProbeUDP, quicAddr}, true},
		{"silent UDP", ProbeTarget{ProbeUDP, silent.LocalAddr().String()}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			err := DialProbe(ctx, tc.target)
			if (err == nil) != tc.ok {
				t.Fatalf("DialProbe(%v) = %v; want ok %t", tc.target, err, tc.ok)
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
