package server

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
)

// TestCheckinRefusals: every bad check-in gets a 4xx JSON error with its
// code, and leaves the node's listing as the last good one made it.
func TestCheckinRefusals(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(d); return now }
	d := newTestDir(t, func(c *Config) {
		c.Now = clock
		c.CertValidity = time.Hour
		c.Limits = DefaultLimits()
		c.Limits.CheckinsPerKey = 40
	})
	for _, n := range []string{"ivy", "jack", "kim"} {
		d.register(n, "a long password")
	}
	ivy, jack, kim := newNodeKey(t), newNodeKey(t), newNodeKey(t)
	ivyCert := d.loginCert("ivy", "a long password", ivy)
	jackCert := d.loginCert("jack", "a long password", jack)
	kimCert := d.loginCert("kim", "a long password", kim)
	good := []string{"/ip4/127.0.0.1/tcp/7070"}
	if a := d.checkin(ivy, ivyCert, good, false); a.status != http.StatusOK {
		t.Fatalf("ivy's first check-in: %d %s", a.status, a.body)
	}
	last := clock()
	advance(time.Second)
	if _, err := d.store.RevokeCertificates(t.Context(), "kim", clock()); err != nil {
		t.Fatal(err)
	}
	if err := d.srv.rebuildRevocations(t.Context()); err != nil {
		t.Fatal(err)
	}
	expired, err := crypto.IssueCertificate(d.key, "ivy", ivy.Public().(ed25519.PublicKey), 999, clock().Add(-2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	body := func(req directory.CheckinRequest) string { b, _ := json.Marshal(req); return string(b) }
	at := func(d time.Duration) time.Time { return clock().Add(d) }
	signed := checkinRequest(ivy, ivyCert, at(0), good, false, false)
	tampered := signed
	tampered.Addrs = []string{"/ip4/203.0.113.9/tcp/1"}
	big := checkinRequest(ivy, ivyCert, at(0), []string{"/ip4/127.0.0.1/tcp/1/" + strings.Repeat("x", directory.MaxCheckinBytes)}, false, false)
	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"another user's key", body(checkinRequest(jack, ivyCert, at(0), good, false, false)), 400, directory.CodeBadProof},
		{"another user's certificate", body(checkinRequest(ivy, jackCert, at(0), good, false, false)), 400, directory.CodeBadProof},
		{"tampered addresses", body(tampered), 400, directory.CodeBadProof},
		{"revoked certificate", body(checkinRequest(kim, kimCert, at(0), good, false, false)), 401, directory.CodeRevoked},
		{"expired certificate", body(checkinRequest(ivy, expired.Marshal(), at(0), good, false, false)), 401, directory.CodeCertificate},
		{"forged certificate", body(checkinRequest(ivy, append([]byte{}, ivyCert[:len(ivyCert)-1]...), at(0), good, false, false)), 401, directory.CodeCertificate},
		{"stale time", body(checkinRequest(ivy, ivyCert, at(-6*time.Minute), good, false, false)), 400, directory.CodeStaleTime},
		{"future time", body(checkinRequest(ivy, ivyCert, at(6*time.Minute), good, false, false)), 400, directory.CodeStaleTime},
		{"replay", body(checkinRequest(ivy, ivyCert, last, good, false, false)), 409, directory.CodeReplay},
		{"older than the last", body(checkinRequest(ivy, ivyCert, last.Add(-time.Second), good, false, false)), 409, directory.CodeReplay},
		{"oversized", body(big), 413, directory.CodeBodyTooLarge},
		{"malformed", `{"certificate":"AAAA",`, 400, directory.CodeBadRequest},
		{"unknown field", `{"certificate":"AAAA","admin":true}`, 400, directory.CodeBadRequest},
		{"missing proof", `{"certificate":"AAAA","time":"2026-01-01T00:00:00Z"}`, 400, directory.CodeBadRequest},
		{"too many addresses", body(checkinRequest(ivy, ivyCert, at(0), make([]string, directory.MaxCheckinAddrs+1), false, false)), 400, directory.CodeBadRequest},
		{"not a multiaddr", body(checkinRequest(ivy, ivyCert, at(0), []string{"1.2.3.4:5"}, false, false)), 400, directory.CodeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := d.do(http.MethodPost, "/v1/checkin", []byte(tc.body))
			e := a.errorBody(t)
			if a.status != tc.status || e.Error != tc.code {
				t.Fatalf("%d %+v, want %d %s", a.status, e, tc.status, tc.code)
			}
		})
	}
	var ur directory.UserResponse
	d.do(http.MethodGet, "/v1/users/ivy", nil).decode(t, &ur)
	if len(ur.Nodes) != 1 || len(ur.Nodes[0].Addrs) != 1 || ur.Nodes[0].Addrs[0] != good[0] {
		t.Fatalf("after the refused check-ins ivy's nodes are %+v, want the one good check-in", ur.Nodes)
	}
	// A newer check-in moves the node; a withdrawal ends its listing.
	moved := []string{"/ip4/127.0.0.1/tcp/7071"}
	if a := d.post("/v1/checkin", checkinRequest(ivy, ivyCert, advance(time.Second), moved, false, false)); a.status != http.StatusOK {
		t.Fatalf("ivy's second check-in: %d %s", a.status, a.body)
	}
	d.do(http.MethodGet, "/v1/users/ivy", nil).decode(t, &ur)
	if len(ur.Nodes) != 1 || ur.Nodes[0].Addrs[0] != moved[0] {
		t.Fatalf("after a newer check-in ivy's nodes are %+v, want at %s", ur.Nodes, moved)
	}
	if a := d.post("/v1/checkin", checkinRequest(ivy, ivyCert, advance(time.Second), nil, false, true)); a.status != http.StatusOK {
		t.Fatalf("ivy's withdrawal: %d %s", a.status, a.body)
	}
	ur = directory.UserResponse{}
	d.do(http.MethodGet, "/v1/users/ivy", nil).decode(t, &ur)
	if len(ur.Nodes) != 0 {
		t.Fatalf("after a withdrawal ivy's nodes are %+v, want none", ur.Nodes)
	}
	// A disabled account's check-in is refused.
	if err := d.store.SetDisabled(t.Context(), "jack", true); err != nil {
		t.Fatal(err)
	}
	if a := d.post("/v1/checkin", checkinRequest(jack, jackCert, advance(time.Second), good, false, false)); a.status != http.StatusForbidden || a.errorBody(t).Error != directory.CodeDisabled {
		t.Fatalf("a disabled account's check-in: %d %s, want 403 %s", a.status, a.body, directory.CodeDisabled)
	}
}

// TestCheckinThrottledPerKey: a flood of check-ins from one key is
// answered 429 past its budget, while another node's check-ins and
// lookups are answered.
func TestCheckinThrottledPerKey(t *testing.T) {
	d := newTestDir(t, func(c *Config) { c.Limits = DefaultLimits(); c.Limits.CheckinsPerKey = 5 })
	d.register("lena", "a long password")
	d.register("moe", "a long password")
	lena, mo := newNodeKey(t), newNodeKey(t)
	lenaCert, moCert := d.loginCert("lena", "a long password", lena), d.loginCert("moe", "a long password", mo)
	ok, throttled := 0, 0
	for i := range 20 {
		a := d.post("/v1/checkin", checkinRequest(lena, lenaCert, time.Now().Add(time.Duration(i)*time.Millisecond), nil, false, false))
		switch {
		case a.status == http.StatusOK:
			ok++
		case a.status == http.StatusTooManyRequests && a.errorBody(t).Error == directory.CodeThrottled && a.header.Get("Retry-After") != "":
			throttled++
		default:
			t.Fatalf("check-in %d: %d %s", i, a.status, a.body)
		}
	}
	if ok != 5 || throttled != 15 {
		t.Errorf("20 check-ins of one key with a budget of 5: %d answered, %d throttled; want 5 and 15", ok, throttled)
	}
	if a := d.checkin(mo, moCert, nil, false); a.status != http.StatusOK {
		t.Errorf("another node's check-in during the flood: %d %s", a.status, a.body)
	}
	if a := d.do(http.MethodGet, "/v1/users/lena", nil); a.status != http.StatusOK {
		t.Errorf("a lookup during the flood: %d %s", a.status, a.body)
	}
	if m := string(d.do(http.MethodGet, "/metrics", nil).body); !strings.Contains(m, `peercall_directory_throttled_total{limit="checkin"} 15`) {
		t.Error("the metrics do not count 15 check-ins throttled")
	}
}

// TestCheckinForgedSpendsNothing: check-ins that name another node's
// certificate without its key's signature are refused and spend none of
// its budget (the budget is checked before the signatures only for a key
// its own verified check-ins spent), and once it is spent a bad proof is
// answered 429 as cheaply as a good one.
func TestCheckinForgedSpendsNothing(t *testing.T) {
	d := newTestDir(t, func(c *Config) { c.Limits = DefaultLimits(); c.Limits.CheckinsPerKey = 3 })
	d.register("nia", "a long password")
	nia, mallory := newNodeKey(t), newNodeKey(t)
	cert := d.loginCert("nia", "a long password", nia)
	for i := range 10 {
		forged := checkinRequest(mallory, cert, time.Now().Add(time.Duration(i)*time.Millisecond), nil, false, false)
		if a := d.post("/v1/checkin", forged); a.status != http.StatusBadRequest || a.errorBody(t).Error != directory.CodeBadProof {
			t.Fatalf("forged check-in %d: %d %s, want 400 %s", i, a.status, a.body, directory.CodeBadProof)
		}
	}
	for i := range 3 {
		if a := d.post("/v1/checkin", checkinRequest(nia, cert, time.Now().Add(time.Duration(20+i)*time.Millisecond), nil, false, false)); a.status != http.StatusOK {
			t.Fatalf("nia's check-in %d after 10 forged ones: %d %s (the forged ones spent her budget)", i, a.status, a.body)
		}
	}
	forged := checkinRequest(mallory, cert, time.Now().Add(30*time.Millisecond), nil, false, false)
	if a := d.post("/v1/checkin", forged); a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
		t.Errorf("a check-in of a spent key with a bad proof: %d %s, want 429 with Retry-After", a.status, a.body)
	}
}

func FuzzDecodeCheckin(f *testing.F) {
	node := ed25519.NewKeyFromSeed(make([]byte, 32))
	good, _ := json.Marshal(checkinRequest(node, []byte("cert"), time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), []string{"/ip4/1.2.3.4/tcp/1"}, true, false))
	for _, s := range []string{string(good), `{"addrs":[1]}`, `{"withdraw":"yes"}`, `{"addrs":["\u0000"]}`, `{"time":"x"}`, `{}`, `{"proof":"!!"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req directory.CheckinRequest
		err := decodeStrict(b, &req)
		if err == nil {
			err = checkAddrs(req.Addrs)
		}
		if err != nil {
			if err.status != 400 && err.status != 413 || err.message == "" {
				t.Fatalf("decode check-in %q: %+v", b, err)
			}
			return
		}
		if len(req.Addrs) > directory.MaxCheckinAddrs {
			t.Fatalf("accepted %d addresses", len(req.Addrs))
		}
		for _, a := range req.Addrs {
			if strings.ContainsAny(a, "\n\x00") || !strings.HasPrefix(a, "/") {
				t.Fatalf("accepted address %q", a)
			}
		}
	})
}
