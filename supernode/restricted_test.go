package supernode

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/presence"
	"github.com/peercall/peercall/reach"
	"github.com/peercall/peercall/relay"
)

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

// fakeFirewall lets out only the probe kinds in open.
type fakeFirewall struct {
	mu   sync.Mutex
	open map[reach.ProbeKind]bool
}

func (f *fakeFirewall) probe(_ context.Context, t reach.ProbeTarget) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open[t.Kind] {
		return nil
	}
	return errors.New("timeout (fake firewall)")
}

func (f *fakeFirewall) set(open ...reach.ProbeKind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.open = map[reach.ProbeKind]bool{}
	for _, k := range open {
		f.open[k] = true
	}
}

// TestManagerRestricted: a manager on a real host (relay.mode on) whose
// detector sees a fake 443-only firewall says restricted in its status,
// stays a client, makes calls relay-only, and clears it once UDP gets out
// again.
func TestManagerRestricted(t *testing.T) {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dirKey, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := presence.NewDHT(ctx, h, presence.DHTConfig{DirectoryKey: dirKey, Mode: presence.DHTModeServer})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fw := &fakeFirewall{}
	fw.set(reach.ProbeTCP443)
	targets := []reach.ProbeTarget{{Kind: reach.ProbeTCP443, Addr: "192.0.2.1:443"}, {Kind: reach.ProbeTCPOther, Addr: "192.0.2.1:7070"}, {Kind: reach.ProbeUDP, Addr: "192.0.2.1:7070"}}
	det := &reach.Detector{
		Log:     slog.New(slog.DiscardHandler),
		Known:   func() []reach.ProbeResult { return nil },
		Targets: func() []reach.ProbeTarget { return targets },
		Probe:   fw.probe,
	}
	cfg := home.DefaultRelayConfig()
	cfg.Mode = relay.ModeOn
	cfg.MaxCPULoad = 1
	m, err := New(Deps{
		Host: h, Routing: d, DirectoryKey: dirKey, Network: home.NetworkConfig{ReachableRanges: []string{"127.0.0.0/8"}},
		Logger: slog.New(slog.DiscardHandler),
	}, cfg, Options{Interval: 50 * time.Millisecond, Detector: det})
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
	st := m.Status()
	if st.Role != relay.RoleClient || st.Reachability != reach.StateRestricted || !strings.Contains(st.RoleReason, "only TCP 443") {
		t.Fatalf("status: role %q (%s), reachability %q; want a restricted client saying why", st.Role, st.RoleReason, st.Reachability)
	}
	if _, _, relayOnly, err := m.CallRelay(ctx, "", false); !relayOnly || err == nil {
		t.Errorf("a restricted node's call with no super-node: relay-only %t, err %v; want relay-only and ErrNoRelay", relayOnly, err)
	}
	fw.set(reach.ProbeTCP443, reach.ProbeUDP)
	if v := det.Check(ctx); v != reach.VerdictOpen || m.Restricted() {
		t.Fatalf("UDP gets out again: verdict %d, restricted %t; want open, not restricted", v, m.Restricted())
	}
	if st := m.Status(); st.Reachability == reach.StateRestricted {
		t.Fatalf("reachability still %q once UDP gets out", st.Reachability)
	}
}
