package server

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/store"
)

// cheapParams make argon2id fast in tests that do not measure hashing.
var cheapParams = crypto.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// testDir is a directory server on a real loopback listener with a real
// SQLite store in a temporary directory.
type testDir struct {
	t     *testing.T
	srv   *Server
	http  *httptest.Server
	store store.Store
	key   ed25519.PrivateKey
	url   string
}

func newTestDir(t *testing.T, mutate func(*Config)) *testDir {
	t.Helper()
	return newTestDirOn(t, "sqlite", mutate)
}

// newTestDirOn is newTestDir on the named backend (see backends).
func newTestDirOn(t *testing.T, backend string, mutate func(*Config)) *testDir {
	t.Helper()
	st := openBackend(t, backend)
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: st, Key: key, Password: cheapParams,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return &testDir{t: t, srv: srv, http: hs, store: st, key: key, url: hs.URL}
}

// answer is one HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) errorBody(t *testing.T) directory.ErrorResponse {
	t.Helper()
	var e directory.ErrorResponse
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error == "" || e.Message == "" {
		t.Fatalf("status %d body %q is not an ErrorResponse with error and message: %v", a.status, a.body, err)
	}
	return e
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %q: %v", a.body, err)
	}
}

func (d *testDir) do(method, path string, body []byte) answer {
	d.t.Helper()
	req, err := http.NewRequest(method, d.url+path, bytes.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.http.Client().Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (d *testDir) post(path string, v any) answer {
	d.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		d.t.Fatal(err)
	}
	return d.do(http.MethodPost, path, b)
}

func (d *testDir) register(name, password string) answer {
	d.t.Helper()
	return d.post("/v1/register", directory.RegisterRequest{Username: name, Password: password})
}

// loginRequest builds a valid login request for the node key.
func loginRequest(name, password string, node ed25519.PrivateKey, now time.Time) directory.LoginRequest {
	pk := crypto.EncodePublicKey(node.Public().(ed25519.PublicKey))
	return directory.LoginRequest{Username: name, Password: password, PeerKey: pk, Time: now,
		Proof: ed25519.Sign(node, directory.LoginProofMessage(name, pk, now))}
}

func (d *testDir) login(name, password string, node ed25519.PrivateKey) answer {
	d.t.Helper()
	return d.post("/v1/login", loginRequest(name, password, node, time.Now()))
}

func newNodeKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func jsonTypeOf(v any) reflect.Type { return reflect.TypeOf(v).Elem() }

// checkinRequest builds a check-in signed by node.
func checkinRequest(node ed25519.PrivateKey, cert []byte, at time.Time, addrs []string, super, withdraw bool) directory.CheckinRequest {
	return directory.CheckinRequest{Certificate: cert, Time: at, Addrs: addrs, SuperNode: super, Withdraw: withdraw,
		Proof: ed25519.Sign(node, directory.CheckinProofMessage(cert, at, addrs, super, withdraw))}
}

// loginCert logs name in with node and returns the certificate.
func (d *testDir) loginCert(name, password string, node ed25519.PrivateKey) []byte {
	d.t.Helper()
	a := d.post("/v1/login", loginRequest(name, password, node, d.srv.now()))
	if a.status != http.StatusOK {
		d.t.Fatalf("login %s: %d %s", name, a.status, a.body)
	}
	var lr directory.LoginResponse
	a.decode(d.t, &lr)
	return lr.Certificate
}

// checkin checks node in with cert at the server's time.
func (d *testDir) checkin(node ed25519.PrivateKey, cert []byte, addrs []string, super bool) answer {
	d.t.Helper()
	return d.post("/v1/checkin", checkinRequest(node, cert, d.srv.now(), addrs, super, false))
}

// loginCheckin logs name in with node, checks in at addrs and returns the
// check-in's answer.
func (d *testDir) loginCheckin(name, password string, node ed25519.PrivateKey, addrs []string, super bool) answer {
	d.t.Helper()
	return d.checkin(node, d.loginCert(name, password, node), addrs, super)
}
