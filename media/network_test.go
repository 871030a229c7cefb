package media

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
)

// TestCallPaths runs a one-way lock-step call over the transports a
// session supports and checks that the audio arrives and that the route
// says which path it took: UDP on 127.0.0.1, ICE over TCP on 127.0.0.1,
// and UDP through an injected transport.Net (a pion vnet, the kind of
// network later NAT tests build).
func TestCallPaths(t *testing.T) {
	tests := []struct {
		name      string
		configs   func(t *testing.T) (Config, Config)
		wantLocal string // substring of the receiver's local candidate
		portMin   uint16 // when set, the receiver's port must be in portMin..portMin+19
	}{
		{
			name:      "udp loopback",
			configs:   func(*testing.T) (Config, Config) { return loopbackConfig(), loopbackConfig() },
			wantLocal: "127.0.0.1:",
		},
		{
			name: "udp port range",
			configs: func(*testing.T) (Config, Config) {
				ca, cb := loopbackConfig(), loopbackConfig()
				ca.PortMin, ca.PortMax = 42100, 42119
				cb.PortMin, cb.PortMax = 42100, 42119
				return ca, cb
			},
			wantLocal: "127.0.0.1:421",
			portMin:   42100,
		},
		{
			name: "ice-tcp loopback",
			configs: func(*testing.T) (Config, Config) {
				ca, cb := loopbackConfig(), loopbackConfig()
				ca.ICETCP, cb.ICETCP = true, true
				ca.tcpOnly, cb.tcpOnly = true, true
				return ca, cb
			},
			wantLocal: "host tcp",
		},
		{
			name: "vnet",
			configs: func(t *testing.T) (Config, Config) {
				wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "198.18.0.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
				if err != nil {
					t.Fatal(err)
				}
				na, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"198.18.0.2"}})
				if err != nil {
					t.Fatal(err)
				}
				nb, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"198.18.0.3"}})
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range []*vnet.Net{na, nb} {
					if err := wan.AddNet(n); err != nil {
						t.Fatal(err)
					}
				}
				if err := wan.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = wan.Stop() })
				return Config{Net: na, ListenIPs: []string{"198.18.0.2"}}, Config{Net: nb, ListenIPs: []string{"198.18.0.3"}}
			},
			wantLocal: "198.18.0.3:",
		},
	}
	sent := speechSeconds("alice", 1.5, audio.Frame20ms)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ca, cb := tc.configs(t)
			_, heard, _, st := lockstepCall(t, ca, cb, sent, nil)
			sim, _ := testaudio.Similarity(sent, heard, audio.SampleRate/2)
			t.Logf("similarity %.3f; route %v", sim, st.Route)
			if sim <= testaudio.Threshold {
				t.Errorf("similarity %.3f <= %.2f", sim, testaudio.Threshold)
			}
			if st.Route.Kind != RouteDirect || !strings.Contains(st.Route.Local, tc.wantLocal) {
				t.Errorf("route %v, want direct with local %q", st.Route, tc.wantLocal)
			}
			if tc.portMin != 0 {
				_, port, _ := net.SplitHostPort(strings.Fields(st.Route.Local)[0])
				if p, _ := strconv.Atoi(port); p < int(tc.portMin) || p > int(tc.portMin)+19 {
					t.Errorf("local port %s outside %d..%d", port, tc.portMin, tc.portMin+19)
				}
			}
		})
	}
}
