package relay

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/pionlog"

	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peercall/peercall/crypto"
)

// TestBandwidthCap sends through one allocation at three times
// relay.max_kbps for about two seconds and checks, from byte counts, that
// what was delivered stays within the cap plus 10 %, and that the excess
// was dropped under the "bandwidth" reason.
func TestBandwidthCap(t *testing.T) {
	w := newWorld(t)
	cfg := testConfig()
	cfg.MaxKbps = 800 // 100 000 bytes/s
	r := startRelay(t, w, cfg, Options{})
	c := credsFor(t, w, r, "alice")
	a, err := allocate(t, r, c.Username, c.Password)
	if err != nil {
		t.Fatal(err)
	}
	peer := udpPeer(t)
	if err := roundTrip(t, a, peer, []byte("warm up")); err != nil {
		t.Fatal(err)
	}
	var received atomic.Int64
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 2048)
		for {
			peer.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			n, _, err := peer.ReadFrom(buf)
			if err != nil {
				return
			}
			received.Add(int64(n))
		}
	}()

	const (
		capBytesPerSec = 800 * 1000 / 8
		packetSize     = 1000
		tick           = 10 * time.Millisecond
		perTick        = 3 // 300 packets/s = 300 000 bytes/s = 3x the cap
		ticks          = 200
	)
	before := r.Stats()
	payload := make([]byte, packetSize)
	start := time.Now()
	ticker := time.NewTicker(tick)
	sent := 0
	for i := 0; i < ticks; i++ {
		<-ticker.C
		for j := 0; j < perTick; j++ {
			if _, err := a.relay.WriteTo(payload, peer.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			sent += packetSize
		}
	}
	ticker.Stop()
	elapsed := time.Since(start)
	<-readDone // the reader stops 500 ms after the last packet
	after := r.Stats()

	relayed := after.BytesRelayed - before.BytesRelayed
	dropped := after.Dropped[DroppedBandwidth] - before.Dropped[DroppedBandwidth]
	allowed := capBytesPerSec * elapsed.Seconds()
	ratio := float64(relayed) / allowed
	t.Logf("sent %d B in %v (%.0f B/s, cap %d B/s); relayed %d B, peer received %d B, dropped %d packets; relayed/cap = %.3f",
		sent, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds(), capBytesPerSec, relayed, received.Load(), dropped, ratio)
	if ratio > 1.10 {
		t.Fatalf("relayed %d bytes in %v: %.1f%% of the cap, want at most 110%%", relayed, elapsed, ratio*100)
	}
	if got := uint64(received.Load()); got > relayed {
		t.Fatalf("peer received %d bytes, more than the %d the relay let through", got, relayed)
	}
	if dropped == 0 {
		t.Fatal("no packet counted as dropped for bandwidth at 3x the cap")
	}
	if int(relayed)+int(dropped)*packetSize < sent {
		t.Fatalf("relayed %d + dropped %d packets do not account for the %d bytes sent", relayed, dropped, sent)
	}
}

func TestIssueCredentials(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	cfg := testConfig()
	const revokedSerial = 99
	r := startRelay(t, w, cfg, Options{Now: func() time.Time { return now }, Revoked: func(serial uint64) bool { return serial == revokedSerial }})
	other := newWorld(t)
	alice, aliceKey := w.user(t, "alice")
	_, malloryKey := w.user(t, "mallory")
	foreign, foreignKey := other.user(t, "alice")
	_, shortPub := w.user(t, "carol")
	short, err := crypto.IssueCertificate(w.dirPriv, "carol", shortPub, 2, now.Add(-time.Hour), time.Hour+time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := crypto.IssueCertificate(w.dirPriv, "dave", aliceKey, 3, now.Add(-2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, erinKey := w.user(t, "erin")
	revoked, err := crypto.IssueCertificate(w.dirPriv, "erin", erinKey, revokedSerial, now.Add(-time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cert    *crypto.Certificate
		key     []byte
		wantErr error
		reason  Reason
		expires time.Time
	}{
		{name: "valid", cert: alice, key: aliceKey, expires: now.Add(cfg.CredentialTTL)},
		{name: "expiry capped by the certificate", cert: short, key: shortPub, expires: short.Expires},
		{name: "certificate of another peer", cert: alice, key: malloryKey, wantErr: crypto.ErrCertificatePeer, reason: RefusedCertificatePeer},
		{name: "another directory", cert: foreign, key: foreignKey, wantErr: crypto.ErrCertificateSignature, reason: RefusedCertificate},
		{name: "expired certificate", cert: expired, key: aliceKey, wantErr: crypto.ErrCertificateExpired, reason: RefusedCertificate},
		{name: "no certificate", cert: nil, key: aliceKey, wantErr: ErrCertificate, reason: RefusedCertificate},
		{name: "revoked certificate", cert: revoked, key: erinKey, wantErr: ErrCertificate, reason: RefusedCertificateRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := r.Stats().Refused[tt.reason]
			c, err := r.IssueCredentials(tt.cert, tt.key)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrCertificate) {
					t.Fatalf("IssueCredentials = %v, want %v", err, tt.wantErr)
				}
				if r.Stats().Refused[tt.reason] != before+1 {
					t.Fatalf("refusal %s not counted", tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.Expires.Equal(tt.expires.Truncate(time.Second)) {
				t.Fatalf("expires %v, want %v", c.Expires, tt.expires)
			}
			exp, user, ok := parseTURNUsername(c.Username)
			if !ok || user != tt.cert.Username || exp != tt.expires.Unix() {
				t.Fatalf("username %q", c.Username)
			}
			ice := c.ICEServer()
			if ice.Username != c.Username || ice.Credential != c.Password || len(ice.URLs) != len(c.URLs) {
				t.Fatalf("ICEServer() = %+v", ice)
			}
		})
	}
}

// TestTURNOverTCPAndTLS allocates over the TCP and TLS listeners (what a
// client behind a firewall that passes only TCP uses) and relays UDP.
func TestTURNOverTCPAndTLS(t *testing.T) {
	w := newWorld(t)
	cfg := testConfig()
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.TURNTLSPort = probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	r := startRelay(t, w, cfg, Options{TLSConfig: selfSignedTLS(t), TLSHost: "relay.test"})
	c := credsFor(t, w, r, "alice")
	if len(c.URLs) != 3 || !strings.HasPrefix(c.URLs[2], "turns:relay.test:") {
		t.Fatalf("URLs = %q", c.URLs)
	}
	dials := map[string]func() (net.Conn, error){
		"tcp": func() (net.Conn, error) { return net.Dial("tcp", r.Addrs().TCP.String()) },
		"tls": func() (net.Conn, error) {
			// The test's self-signed certificate is not in any trust store.
			return tls.Dial("tcp", r.Addrs().TLS.String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec
		},
	}
	for name, dial := range dials {
		t.Run(name, func(t *testing.T) {
			conn, err := dial()
			if err != nil {
				t.Fatal(err)
			}
			stunConn := turn.NewSTUNConn(conn)
			client, err := turn.NewClient(&turn.ClientConfig{
				TURNServerAddr: conn.RemoteAddr().String(), Conn: stunConn,
				Username: c.Username, Password: c.Password, LoggerFactory: pionlog.New(quietLogger(), pionlog.Server),
			})
			if err != nil {
				t.Fatal(err)
			}
			a := &allocation{client: client, conn: stunConn}
			defer a.Close()
			if err := client.Listen(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if a.relay, err = client.AllocateWithContext(ctx); err != nil {
				t.Fatalf("allocate over %s: %v", name, err)
			}
			if err := roundTrip(t, a, udpPeer(t), []byte("over "+name)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func selfSignedTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay.test"}, DNSNames: []string{"relay.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
}

func TestPrometheusTracer(t *testing.T) {
	w := newWorld(t)
	reg := prometheus.NewRegistry()
	tr, err := NewPrometheusTracer(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewPrometheusTracer(reg); err == nil {
		t.Fatal("registering the relay metrics twice succeeded")
	}
	cfg := testConfig()
	cfg.MaxSessions = 1
	r := startRelay(t, w, cfg, Options{Tracer: tr})
	c := credsFor(t, w, r, "alice")
	a, err := allocate(t, r, c.Username, c.Password)
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(t, a, udpPeer(t), []byte("metered")); err != nil {
		t.Fatal(err)
	}
	if _, err := allocate(t, r, c.Username, "forged"); err == nil {
		t.Fatal("forged allocation succeeded")
	}
	b := credsFor(t, w, r, "bob")
	if _, err := allocate(t, r, b.Username, b.Password); err == nil {
		t.Fatal("allocation beyond max_sessions succeeded")
	}
	s := r.Stats()
	checks := []struct {
		metric, reason string
		want           float64
	}{
		{"peercall_relay_sessions", "", 1},
		{"peercall_relay_sessions_total", "", 1},
		{"peercall_relay_bytes_relayed_total", "", float64(s.BytesRelayed)},
		{"peercall_relay_packets_relayed_total", "", float64(s.PacketsRelayed)},
		{"peercall_relay_credentials_issued_total", "", 2},
		{"peercall_relay_refusals_total", "max_sessions", float64(s.Refused[RefusedMaxSessions])},
		{"peercall_relay_refusals_total", "bad_credentials", float64(s.Refused[RefusedBadCredentials])},
	}
	for _, c := range checks {
		got, ok := gathered(t, reg, c.metric, c.reason)
		if !ok || got != c.want || c.want == 0 {
			t.Errorf("%s{reason=%q} = %v (found %v), want %v (non-zero)", c.metric, c.reason, got, ok, c.want)
		}
	}
	if got, ok := gathered(t, reg, "peercall_relay_packets_dropped_total", "bandwidth"); !ok || got != 0 {
		t.Errorf("dropped{bandwidth} = %v (found %v), want a zero series from the start", got, ok)
	}
	for _, z := range []struct{ metric, label, value string }{
		{"peercall_relay_refusals_total", "reason", "peer_forbidden"},
		{"peercall_relay_packets_dropped_total", "reason", "peer_forbidden"},
		{"peercall_relay_peer_forbidden_total", "kind", "link_local"},
		{"peercall_relay_sessions_closed_total", "cause", "idle_timeout"},
		{"peercall_relay_sessions_closed_total", "cause", "allocation_lifetime"},
	} {
		if got, ok := gatheredLabel(t, reg, z.metric, z.label, z.value); !ok || got != 0 {
			t.Errorf("%s{%s=%q} = %v (found %v), want a zero series from the start", z.metric, z.label, z.value, got, ok)
		}
	}
}

// gathered reads one counter or gauge from reg.
func gathered(t *testing.T, reg *prometheus.Registry, name, reason string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := reason == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					match = true
				}
			}
			if !match {
				continue
			}
			if m.Counter != nil {
				return m.Counter.GetValue(), true
			}
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}
