package media

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
)

// startTURN runs a real pion/turn server on 127.0.0.1 (a stand-in for a
// super-node's relay) and returns its URL and credentials.
func startTURN(t *testing.T) webrtc.ICEServer {
	t.Helper()
	ice, stop := startStoppableTURN(t)
	t.Cleanup(stop)
	return ice
}

// startStoppableTURN is startTURN with a stop function: the relay dies
// (its socket closes) when the test says so.
func startStoppableTURN(t *testing.T) (webrtc.ICEServer, func()) {
	t.Helper()
	return startTURNOn(t, "127.0.0.1")
}

// startTURNOn is startStoppableTURN listening and relaying on ip (a
// loopback address).
func startTURNOn(t *testing.T, ip string) (webrtc.ICEServer, func()) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	const realm, user, pass = "peercall.test", "alice", "s3cret"
	key := turn.GenerateAuthKey(user, realm, pass)
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm: realm,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return ra.Username, key, ra.Username == user
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            pc,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: net.ParseIP(ip), Address: ip},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return webrtc.ICEServer{
		URLs:     []string{fmt.Sprintf("turn:%s?transport=udp", pc.LocalAddr())},
		Username: user, Credential: pass,
	}, func() { _ = srv.Close() }
}

// TestCallThroughTURN: with the relay-only policy both sessions send
// through a TURN server, and the route says "relay" and through which
// relay address.
func TestCallThroughTURN(t *testing.T) {
	ice := startTURN(t)
	ca, cb := loopbackConfig(), loopbackConfig()
	ca.ICEServers, cb.ICEServers = []webrtc.ICEServer{ice}, []webrtc.ICEServer{ice}
	ca.RelayOnly, cb.RelayOnly = true, true
	sent := speechSeconds("bob", 1.5, audio.Frame20ms)
	_, heard, _, st := lockstepCall(t, ca, cb, sent, nil)
	sim, _ := testaudio.Similarity(sent, heard, audio.SampleRate/2)
	t.Logf("similarity %.3f; route %v", sim, st.Route)
	if sim <= testaudio.Threshold {
		t.Errorf("similarity %.3f <= %.2f through the relay", sim, testaudio.Threshold)
	}
	if st.Route.Kind != RouteRelay || !strings.HasPrefix(st.Route.RelayAddr, "127.0.0.1:") || !st.Route.LocalRelay() {
		t.Errorf("route %v, want relay via 127.0.0.1", st.Route)
	}
}
