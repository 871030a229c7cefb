package relay

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

func TestRelayPackets(t *testing.T) {
	w := newWorld(t)
	r := startRelay(t, w, testConfig(), Options{})
	creds := credsFor(t, w, r, "alice")
	if len(creds.URLs) != 2 || !strings.HasPrefix(creds.URLs[0], "turn:127.0.0.1:") || !strings.HasSuffix(creds.URLs[1], "?transport=tcp") {
		t.Fatalf("URLs = %q", creds.URLs)
	}
	if !strings.HasSuffix(creds.Username, ":alice") {
		t.Fatalf("username %q does not name alice", creds.Username)
	}
	a, err := allocate(t, r, creds.Username, creds.Password)
	if err != nil {
		t.Fatalf("allocate with valid credentials: %v", err)
	}
	peer := udpPeer(t)
	payload := []byte("opus-frame-0123456789-\x00\xff\x80 unaltered")
	if err := roundTrip(t, a, peer, payload); err != nil {
		t.Fatal(err)
	}
	s := r.Stats()
	if s.Sessions != 1 || s.SessionsTotal != 1 || s.BytesRelayed < uint64(2*len(payload)) || s.CredentialsIssued != 1 {
		t.Fatalf("stats = %+v", s)
	}
	a.Close()
	eventually(t, "session count back to 0 after the client closed", func() bool { return r.Stats().Sessions == 0 })
}

func TestRelayRefusesBadCredentials(t *testing.T) {
	w := newWorld(t)
	r := startRelay(t, w, testConfig(), Options{})
	good := credsFor(t, w, r, "alice")
	expiredUser := "1000000000:alice" // 2001
	otherRelay, err := New(testConfig(), Options{DirectoryKey: w.dirPub, ListenIP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	exp, _, _ := strings.Cut(good.Username, ":")
	tests := []struct {
		name     string
		username string
		password string
		reason   Reason
	}{
		{"no credentials", "", "", RefusedNoCredentials},
		{"expired", expiredUser, r.password(expiredUser), RefusedExpired},
		{"credentials of another user", exp + ":bob", good.Password, RefusedBadCredentials},
		{"forged HMAC", good.Username, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", RefusedBadCredentials},
		{"another relay's secret", good.Username, otherRelay.password(good.Username), RefusedBadCredentials},
		{"malformed username", "alice", r.password("alice"), RefusedBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := r.Stats().Refused[tt.reason]
			a, err := allocate(t, r, tt.username, tt.password)
			if err == nil {
				a.Close()
				t.Fatal("allocation succeeded")
			}
			var te *stun.TurnError
			if !errors.As(err, &te) || te.ErrorCodeAttr.Code != stun.CodeUnauthorized {
				t.Fatalf("allocate: %v, want 401 Unauthorized", err)
			}
			if after := r.Stats().Refused[tt.reason]; after <= before {
				t.Fatalf("refusals[%s] = %d, want more than %d", tt.reason, after, before)
			}
		})
	}
	if s := r.Stats(); s.Sessions != 0 || s.SessionsTotal != 0 {
		t.Fatalf("a refused request made a session: %+v", s)
	}
}

func TestMaxSessions(t *testing.T) {
	w := newWorld(t)
	cfg := testConfig()
	cfg.MaxSessions = 1
	r := startRelay(t, w, cfg, Options{})
	alice := credsFor(t, w, r, "alice")
	first, err := allocate(t, r, alice.Username, alice.Password)
	if err != nil {
		t.Fatal(err)
	}
	peer := udpPeer(t)
	if err := roundTrip(t, first, peer, []byte("first")); err != nil {
		t.Fatal(err)
	}
	bob := credsFor(t, w, r, "bob")
	_, err = allocate(t, r, bob.Username, bob.Password)
	var te *stun.TurnError
	if !errors.As(err, &te) || te.ErrorCodeAttr.Code != stun.CodeAllocQuotaReached {
		t.Fatalf("second allocation: %v, want 486 Allocation Quota Reached", err)
	}
	if n := r.Stats().Refused[RefusedMaxSessions]; n == 0 {
		t.Fatal("max_sessions refusal not counted")
	}
	if err := roundTrip(t, first, peer, []byte("first still relays")); err != nil {
		t.Fatalf("first session after the refusal: %v", err)
	}
}

func TestMaxSessionsPerUser(t *testing.T) {
	w := newWorld(t)
	cfg := testConfig()
	cfg.MaxSessionsPerUser = 1
	r := startRelay(t, w, cfg, Options{})
	alice := credsFor(t, w, r, "alice")
	if _, err := allocate(t, r, alice.Username, alice.Password); err != nil {
		t.Fatal(err)
	}
	_, err := allocate(t, r, alice.Username, alice.Password)
	var te *stun.TurnError
	if !errors.As(err, &te) || te.ErrorCodeAttr.Code != stun.CodeAllocQuotaReached {
		t.Fatalf("alice's second allocation: %v, want 486", err)
	}
	if n := r.Stats().Refused[RefusedMaxUserSessions]; n == 0 {
		t.Fatal("max_user_sessions refusal not counted")
	}
	bob := credsFor(t, w, r, "bob")
	if _, err := allocate(t, r, bob.Username, bob.Password); err != nil {
		t.Fatalf("bob's allocation: %v", err)
	}
}

func TestSessionDurationCap(t *testing.T) {
	w := newWorld(t)
	cfg := testConfig()
	cfg.MaxSessionDuration = time.Second
	r := startRelay(t, w, cfg, Options{})
	c := credsFor(t, w, r, "alice")
	a, err := allocate(t, r, c.Username, c.Password)
	if err != nil {
		t.Fatal(err)
	}
	peer := udpPeer(t)
	if err := roundTrip(t, a, peer, []byte("before the cap")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the allocation closed at max_session_duration", func() bool {
		s := r.Stats()
		return s.Sessions == 0 && s.SessionsExpired == 1
	})
	// The relayed address is gone: the peer's packets reach nobody.
	relayAddr := a.relay.LocalAddr()
	before := r.Stats().BytesRelayed
	for i := 0; i < 5; i++ {
		peer.WriteTo([]byte("after the cap"), relayAddr)
	}
	a.relay.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := a.relay.ReadFrom(make([]byte, 100)); err == nil {
		t.Fatalf("received %d bytes through a closed allocation", n)
	}
	if after := r.Stats().BytesRelayed; after != before {
		t.Fatalf("bytes relayed grew from %d to %d after the session closed", before, after)
	}
}

func TestModeOffOpensNoListener(t *testing.T) {
	w := newWorld(t)
	// Find a free port, so the test can dial the port the relay would use.
	probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()

	cfg := testConfig()
	cfg.Mode = ModeOff
	cfg.TURNPort = port
	r, err := New(cfg, Options{DirectoryKey: w.dirPub, ListenIP: net.IPv4(127, 0, 0, 1), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Start(context.Background()); !errors.Is(err, ErrDisabled) {
		t.Fatalf("Start with mode off = %v, want ErrDisabled", err)
	}
	if r.Running() {
		t.Fatal("Running() after Start with mode off")
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("TCP port %d accepts connections with mode off", port)
	}
	cert, key := w.user(t, "alice")
	if _, err := r.IssueCredentials(cert, key); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("IssueCredentials with mode off = %v, want ErrNotRunning", err)
	}
	// UDP: a STUN binding request to the port gets no answer (ICMP port
	// unreachable surfaces as a read error or a timeout).
	u, err := net.Dial("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	msg := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	u.Write(msg.Raw)
	u.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := u.Read(make([]byte, 1500)); err == nil {
		t.Fatalf("UDP port %d answered %d bytes with mode off", port, n)
	}
}

// TestStatsJSON: the "relay" object of `peercall status --json` carries
// the keys the CLI contract names.
func TestStatsJSON(t *testing.T) {
	w := newWorld(t)
	r := startRelay(t, w, testConfig(), Options{})
	b, err := json.Marshal(r.Stats())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"sessions", "bytes_relayed", "kbps", "limits", "refused", "dropped"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status JSON %s lacks %q", b, k)
		}
	}
	limits, _ := m["limits"].(map[string]any)
	if limits["max_kbps"] != float64(testConfig().MaxKbps) || limits["max_sessions"] != float64(testConfig().MaxSessions) {
		t.Errorf("limits %v", limits)
	}
	refused, _ := m["refused"].(map[string]any)
	if _, ok := refused["max_sessions"]; !ok {
		t.Errorf("refused %v lacks a zero max_sessions entry", refused)
	}
}
