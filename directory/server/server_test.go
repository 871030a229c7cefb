package server

import (
	"crypto/ed25519"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
)

func TestConcurrentRegistrationsOneWinner(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) { testConcurrentRegistrations(t, b) })
	}
}

func testConcurrentRegistrations(t *testing.T, backend string) {
	d := newTestDirOn(t, backend, func(c *Config) {
		l := DefaultLimits()
		l.RegistrationsPerAddr = 1000
		l.MaxHashQueue = 100
		l.MaxHashWait = 30 * time.Second
		c.Limits = l
	})
	const n = 50
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i] = d.register("Carol", "password-"+strconv.Itoa(i)) })
	}
	wg.Wait()
	created := 0
	var suggestions [][]string
	for _, a := range answers {
		switch a.status {
		case http.StatusCreated:
			created++
			var r directory.RegisterResponse
			a.decode(t, &r)
			if r.Username != "carol" || r.Display != "Carol" {
				t.Errorf("201 answer %+v, want username carol, display Carol", r)
			}
		case http.StatusConflict:
			e := a.errorBody(t)
			if e.Error != directory.CodeNameTaken || len(e.Suggestions) < 3 {
				t.Errorf("409 answer %+v, want name_taken with at least 3 suggestions", e)
			}
			suggestions = append(suggestions, e.Suggestions)
		default:
			t.Errorf("answer %d %q, want 201 or 409", a.status, a.body)
		}
	}
	if created != 1 || len(suggestions) != n-1 {
		t.Fatalf("%d created and %d taken, want 1 and %d", created, len(suggestions), n-1)
	}
	// Every suggestion is free: registering them works (each one once).
	done := map[string]bool{}
	for _, ss := range suggestions {
		for _, s := range ss[:3] {
			if done[s] {
				continue
			}
			done[s] = true
			if a := d.register(s, "a good password"); a.status != http.StatusCreated {
				t.Errorf("suggested %q: register answered %d %q", s, a.status, a.body)
			}
		}
	}
	// And a suggestion answered now avoids the ones just taken.
	e := d.register("carol", "whatever-pw").errorBody(t)
	taken, err := d.store.Taken(t.Context(), e.Suggestions)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range e.Suggestions {
		if taken[s] {
			t.Errorf("suggestion %q is taken", s)
		}
	}
}

func TestNamesAreCaseInsensitiveAndLoginIssuesCertificate(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) { testLoginIssuesCertificate(t, b) })
	}
}

func testLoginIssuesCertificate(t *testing.T, backend string) {
	d := newTestDirOn(t, backend, nil)
	if a := d.register("Alice", "correct horse"); a.status != http.StatusCreated {
		t.Fatalf("register Alice: %d %q", a.status, a.body)
	}
	if a := d.register("alice", "other password"); a.status != http.StatusConflict {
		t.Fatalf("register alice after Alice: %d %q, want 409", a.status, a.body)
	}
	if a := d.register("ＡＬＩＣＥ", "other password"); a.status != http.StatusConflict {
		t.Fatalf("register full-width ALICE after Alice: %d %q, want 409", a.status, a.body)
	}
	node := newNodeKey(t)
	before := time.Now()
	a := d.login("ALICE", "correct horse", node)
	if a.status != http.StatusOK {
		t.Fatalf("login ALICE: %d %q", a.status, a.body)
	}
	var lr directory.LoginResponse
	a.decode(t, &lr)
	cert, err := crypto.ParseCertificate(lr.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	dirPub := d.key.Public().(ed25519.PublicKey)
	if err := cert.Verify(dirPub, time.Now()); err != nil {
		t.Fatalf("certificate does not verify with the directory key: %v", err)
	}
	if cert.Username != "alice" || !cert.PeerKey.Equal(node.Public()) {
		t.Fatalf("certificate names %q / %x, want alice / the node key", cert.Username, cert.PeerKey)
	}
	if got := cert.Expires.Sub(cert.Issued); got != DefaultCertValidity {
		t.Errorf("certificate validity %v, want %v", got, DefaultCertValidity)
	}
	if cert.Issued.Before(before.Truncate(time.Second)) || !lr.Expires.Equal(cert.Expires) || lr.Username != "alice" {
		t.Errorf("login response %+v does not match certificate %+v", lr, cert)
	}
	if lr.DirectoryKey != crypto.EncodePublicKey(dirPub) {
		t.Errorf("directory key %q, want %q", lr.DirectoryKey, crypto.EncodePublicKey(dirPub))
	}
	// A forged certificate (signed by another key) does not verify.
	other := newNodeKey(t)
	forged, err := crypto.IssueCertificate(other, "alice", node.Public().(ed25519.PublicKey), 99, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := forged.Verify(dirPub, time.Now()); err == nil {
		t.Fatal("a certificate signed by another key verified")
	}

	// The lookup of any spelling finds the certificate and the node that
	// checked in.
	if a := d.checkin(node, lr.Certificate, []string{"/ip4/127.0.0.1/udp/7070/quic-v1"}, false); a.status != http.StatusOK {
		t.Fatalf("check-in: %d %s", a.status, a.body)
	}
	var ur directory.UserResponse
	a = d.do(http.MethodGet, "/v1/users/Alice", nil)
	if a.status != http.StatusOK {
		t.Fatalf("lookup Alice: %d %q", a.status, a.body)
	}
	a.decode(t, &ur)
	if ur.Username != "alice" || ur.Display != "Alice" || len(ur.Certificates) != 1 || !slices.Equal(ur.Certificates[0], lr.Certificate) {
		t.Fatalf("lookup = %+v, want alice with the issued certificate", ur)
	}
	if len(ur.Nodes) != 1 || ur.Nodes[0].PeerID != peerID(node.Public().(ed25519.PublicKey)) || ur.Nodes[0].Addrs[0] != "/ip4/127.0.0.1/udp/7070/quic-v1" {
		t.Fatalf("lookup nodes = %+v", ur.Nodes)
	}
}

// TestLookupLeavesOutExpired: a lookup lists a node while its check-in
// lives (CheckinTTL), and a certificate while it is valid.
func TestLookupLeavesOutExpired(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	start := now
	d := newTestDir(t, func(c *Config) { c.Now = clock; c.CertValidity = time.Hour; c.CheckinTTL = 20 * time.Minute })
	d.register("dave", "dave's password")
	node := newNodeKey(t)
	if a := d.loginCheckin("dave", "dave's password", node, []string{"/ip4/127.0.0.1/tcp/7070"}, false); a.status != http.StatusOK {
		t.Fatalf("login and check-in: %d %q", a.status, a.body)
	}
	for _, tc := range []struct {
		after        time.Duration
		certs, nodes int
	}{
		{10 * time.Minute, 1, 1},
		{21 * time.Minute, 1, 0},
		{2 * time.Hour, 0, 0},
	} {
		set(start.Add(tc.after))
		var ur directory.UserResponse
		d.do(http.MethodGet, "/v1/users/dave", nil).decode(t, &ur)
		if len(ur.Certificates) != tc.certs || len(ur.Nodes) != tc.nodes {
			t.Errorf("lookup %v after a check-in (TTL 20m) and a one-hour certificate: %d certificates, %d nodes; want %d, %d",
				tc.after, len(ur.Certificates), len(ur.Nodes), tc.certs, tc.nodes)
		}
	}
}

func TestWrongPasswordAndUnknownUser(t *testing.T) {
	d := newTestDir(t, nil)
	d.register("erin", "erin's password")
	node := newNodeKey(t)
	for _, tc := range []struct{ name, user, password string }{
		{"wrong password", "erin", "not erin's password"},
		{"short password", "erin", "short"},
		{"unknown user", "frank", "frank's password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := d.login(tc.user, tc.password, node)
			if e := a.errorBody(t); a.status != http.StatusUnauthorized || e.Error != directory.CodeUnauthorized {
				t.Fatalf("login: %d %+v, want 401 unauthorized", a.status, e)
			}
		})
	}
}

func TestLoginThrottled(t *testing.T) {
	d := newTestDir(t, func(c *Config) {
		l := DefaultLimits()
		l.LoginFailuresPerName = 3
		c.Limits = l
	})
	d.register("grace", "grace's password")
	node := newNodeKey(t)
	for i := range 3 {
		if a := d.login("grace", "wrong password", node); a.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %q, want 401", i, a.status, a.body)
		}
	}
	// The budget is spent: even the right password waits.
	a := d.login("Grace", "grace's password", node)
	e := a.errorBody(t)
	if a.status != http.StatusTooManyRequests || e.Error != directory.CodeThrottled {
		t.Fatalf("fourth login: %d %+v, want 429 throttled", a.status, e)
	}
	secs, err := strconv.Atoi(a.header.Get("Retry-After"))
	// 3 failures per 15 minutes: one failure's worth comes back in 5 minutes.
	if err != nil || secs < 200 || secs > 310 {
		t.Fatalf("Retry-After %q, want about 300 seconds", a.header.Get("Retry-After"))
	}
	if !strings.Contains(e.Message, `"grace"`) {
		t.Errorf("message %q does not name the throttled name", e.Message)
	}
	// Another name is not throttled by grace's failures.
	d.register("heidi", "heidi's password")
	if a := d.login("heidi", "heidi's password", node); a.status != http.StatusOK {
		t.Fatalf("login heidi: %d %q", a.status, a.body)
	}
}

func TestLoginThrottledPerAddress(t *testing.T) {
	d := newTestDir(t, func(c *Config) {
		l := DefaultLimits()
		l.LoginFailuresPerAddr = 4
		c.Limits = l
	})
	node := newNodeKey(t)
	for i := range 4 {
		if a := d.login("user"+strconv.Itoa(i), "wrong password", node); a.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %q, want 401", i, a.status, a.body)
		}
	}
	a := d.login("user9", "wrong password", node)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" || !strings.Contains(a.errorBody(t).Message, "your address") {
		t.Fatalf("fifth failure from one address: %d %q, want 429 with Retry-After", a.status, a.body)
	}
	m := string(d.do(http.MethodGet, "/metrics", nil).body)
	if !strings.Contains(m, `peercall_directory_throttled_total{limit="addr"} 1`) {
		t.Errorf("metrics do not count the address throttling")
	}
}

func TestSuccessfulLoginsCostLess(t *testing.T) {
	d := newTestDir(t, func(c *Config) {
		l := DefaultLimits()
		l.LoginFailuresPerName = 2
		c.Limits = l
	})
	d.register("ivan", "ivan's password")
	// Two failures' budget is 8 units; a success costs 1, a failure 4, and
	// an attempt needs a failure's worth at hand: five successes pass.
	// (Each from a new machine: a machine that logged in before has a
	// budget of its own.)
	for i := range 5 {
		if a := d.login("ivan", "ivan's password", newNodeKey(t)); a.status != http.StatusOK {
			t.Fatalf("success %d: %d %q", i, a.status, a.body)
		}
	}
	if a := d.login("ivan", "ivan's password", newNodeKey(t)); a.status != http.StatusTooManyRequests {
		t.Fatalf("sixth login: %d %q, want 429", a.status, a.body)
	}
}

func TestShedding(t *testing.T) {
	d := newTestDir(t, func(c *Config) {
		l := DefaultLimits()
		l.MaxConcurrentHashes = 1
		l.MaxHashQueue = 0
		c.Limits = l
	})
	d.register("judy", "judy's password")
	// Hold the only hash slot, as a long hash would.
	if !d.srv.hashes.Acquire(t.Context()) {
		t.Fatal("could not take the hash slot")
	}
	for _, tc := range []struct {
		name string
		do   func() answer
	}{
		{"login", func() answer { return d.login("judy", "judy's password", newNodeKey(t)) }},
		{"register", func() answer { return d.register("kim", "kim's password") }},
	} {
		a := tc.do()
		e := a.errorBody(t)
		secs, err := strconv.Atoi(a.header.Get("Retry-After"))
		if a.status != http.StatusServiceUnavailable || e.Error != directory.CodeOverloaded || err != nil || secs < 1 || secs > 5 {
			t.Fatalf("%s with the hash slot held: %d %+v Retry-After %q, want 503 overloaded, 1..5 s",
				tc.name, a.status, e, a.header.Get("Retry-After"))
		}
	}
	// Lookups need no hash and still work.
	if a := d.do(http.MethodGet, "/v1/users/judy", nil); a.status != http.StatusOK {
		t.Fatalf("lookup while shedding: %d %q", a.status, a.body)
	}
	d.srv.hashes.Release()
	if a := d.login("judy", "judy's password", newNodeKey(t)); a.status != http.StatusOK {
		t.Fatalf("login after the slot is free: %d %q", a.status, a.body)
	}
}

func TestSheddingAfterWait(t *testing.T) {
	d := newTestDir(t, func(c *Config) {
		l := DefaultLimits()
		l.MaxConcurrentHashes = 1
		l.MaxHashQueue = 1
		l.MaxHashWait = 50 * time.Millisecond
		c.Limits = l
	})
	d.srv.hashes.Acquire(t.Context())
	defer d.srv.hashes.Release()
	if a := d.register("kim", "kim's password"); a.status != http.StatusServiceUnavailable {
		t.Fatalf("register after waiting past MaxHashWait: %d %q, want 503", a.status, a.body)
	}
}

func TestRehashWhenParamsChange(t *testing.T) {
	d := newTestDir(t, nil)
	d.register("leo", "leo's password")
	old, _ := d.store.User(t.Context(), "leo")
	stronger := cheapParams
	stronger.Time = 2
	srv2, err := New(Config{Store: d.store, Key: d.key, Password: stronger, Logger: d.srv.log})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	d.http.Config.Handler = srv2.Handler()
	if a := d.login("leo", "leo's password", newNodeKey(t)); a.status != http.StatusOK {
		t.Fatalf("login: %d %q", a.status, a.body)
	}
	u, _ := d.store.User(t.Context(), "leo")
	if u.PasswordHash == old.PasswordHash || !strings.Contains(u.PasswordHash, "t=2") {
		t.Fatalf("hash %q was not upgraded to t=2", u.PasswordHash)
	}
	if a := d.login("leo", "leo's password", newNodeKey(t)); a.status != http.StatusOK {
		t.Fatalf("login with the new hash: %d %q", a.status, a.body)
	}
}

func TestSearchAndBootstrap(t *testing.T) {
	d := newTestDir(t, nil)
	for _, n := range []string{"mallory", "Mike", "mina", "mo_2", "nadia"} {
		if a := d.register(n, "a long password"); a.status != http.StatusCreated {
			t.Fatal(a.status, string(a.body))
		}
	}
	var sr directory.SearchResponse
	d.do(http.MethodGet, "/v1/users?prefix=M&limit=2", nil).decode(t, &sr)
	if len(sr.Users) != 2 || sr.Users[0].Username != "mallory" || sr.Users[1].Username != "mike" || sr.Next != "mike" {
		t.Fatalf("first page = %+v", sr)
	}
	sr = directory.SearchResponse{}
	d.do(http.MethodGet, "/v1/users?prefix=m&limit=2&after="+sr.Next+"mike", nil).decode(t, &sr)
	if len(sr.Users) != 2 || sr.Users[0].Username != "mina" || sr.Users[1].Username != "mo_2" {
		t.Fatalf("second page = %+v", sr)
	}
	sr = directory.SearchResponse{}
	d.do(http.MethodGet, "/v1/users?prefix=mo_", nil).decode(t, &sr)
	if len(sr.Users) != 1 || sr.Next != "" {
		t.Fatalf("last page = %+v", sr)
	}
	sr = directory.SearchResponse{}
	d.do(http.MethodGet, "/v1/users?limit=1000", nil).decode(t, &sr)
	if len(sr.Users) != 5 {
		t.Fatalf("all users = %+v", sr)
	}

	var br directory.BootstrapResponse
	d.do(http.MethodGet, "/v1/bootstrap", nil).decode(t, &br)
	if len(br.Peers) != 0 {
		t.Fatalf("bootstrap before any login = %+v", br)
	}
	plain, super := newNodeKey(t), newNodeKey(t)
	d.loginCheckin("mike", "a long password", plain, []string{"/ip4/127.0.0.1/tcp/7070"}, false)
	d.do(http.MethodGet, "/v1/bootstrap", nil).decode(t, &br)
	if len(br.Peers) != 1 || br.Peers[0].PeerID != peerID(plain.Public().(ed25519.PublicKey)) || br.Peers[0].Username != "" {
		t.Fatalf("bootstrap with one plain node = %+v", br)
	}
	// A node's own word does not make it a super-node: this directory has
	// no Prover to dial it back, so it is listed as a plain node.
	d.loginCheckin("mina", "a long password", super, []string{"/ip4/127.0.0.1/tcp/7071"}, true)
	br = directory.BootstrapResponse{}
	d.do(http.MethodGet, "/v1/bootstrap?limit=50", nil).decode(t, &br)
	if len(br.Peers) != 2 || br.Peers[0].PeerID != peerID(super.Public().(ed25519.PublicKey)) || br.Peers[0].SuperNode || br.Peers[1].SuperNode {
		t.Fatalf("bootstrap after an unverified super-node claim = %+v, want both nodes, newest first, neither a super-node", br)
	}
}

func TestKeyHealthzMetrics(t *testing.T) {
	d := newTestDir(t, nil)
	var kr directory.KeyResponse
	d.do(http.MethodGet, "/v1/key", nil).decode(t, &kr)
	if kr.Key != crypto.EncodePublicKey(d.key.Public().(ed25519.PublicKey)) {
		t.Fatalf("key = %q", kr.Key)
	}
	a := d.do(http.MethodGet, "/healthz", nil)
	var hr HealthResponse
	a.decode(t, &hr)
	if a.status != 200 || hr.Status != "ok" || !hr.Store.OK || hr.Store.Backend != "sqlite" || hr.Store.FreeBytes == nil || *hr.Store.FreeBytes <= 0 || len(hr.Problems) != 0 {
		t.Fatalf("healthz: %d %q", a.status, a.body)
	}
	d.register("olivia", "olivia's password")
	d.login("olivia", "wrong password", newNodeKey(t))
	a = d.do(http.MethodGet, "/metrics", nil)
	for _, want := range []string{
		`peercall_directory_requests_total{code="201",route="POST /v1/register"} 1`,
		`peercall_directory_requests_total{code="401",route="POST /v1/login"} 1`,
		`peercall_directory_registrations_total{result="created"} 1`,
		`peercall_directory_logins_total{result="bad_password"} 1`,
		`peercall_directory_hashes_in_flight 0`,
	} {
		if !strings.Contains(string(a.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestCloseRefuses(t *testing.T) {
	d := newTestDir(t, nil)
	d.srv.Close()
	d.srv.Close()
	a := d.do(http.MethodGet, "/v1/key", nil)
	if e := a.errorBody(t); a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
		t.Fatalf("after Close: %d %+v", a.status, e)
	}
}
