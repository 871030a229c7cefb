package directory

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
)

// fakeDirectory is a small stand-in of the directory's HTTP API, used by the
// client tests for answers the real server never gives (oversized bodies,
// forged certificates, 503 storms). It follows api.go; the real server is
// in directory/server.
type fakeDirectory struct {
	key ed25519.PrivateKey

	mu        sync.Mutex
	passwords map[string]string // normalised name -> password
	certs     map[string][][]byte
	serial    uint64
	// forgeCert, when set, replaces the certificate a login returns.
	forgeCert func(req LoginRequest) []byte
}

func newFakeDirectory(t *testing.T) *fakeDirectory {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &fakeDirectory{key: key, passwords: map[string]string{}, certs: map[string][][]byte{}}
}

func (f *fakeDirectory) pub() ed25519.PublicKey { return f.key.Public().(ed25519.PublicKey) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeDirectory) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/key", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, KeyResponse{Key: crypto.EncodePublicKey(f.pub())})
	})
	mux.HandleFunc("POST /v1/register", func(w http.ResponseWriter, r *http.Request) {
		var req RegisterRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, 400, ErrorResponse{Error: CodeBadRequest, Message: err.Error()})
			return
		}
		name, err := Normalize(req.Username)
		if err != nil {
			writeJSON(w, 400, ErrorResponse{Error: CodeInvalidUsername, Message: err.Error()})
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.passwords[name]; ok {
			writeJSON(w, 409, ErrorResponse{Error: CodeNameTaken, Message: "taken", Suggestions: []string{name + "2", name + "_1"}})
			return
		}
		f.passwords[name] = req.Password
		writeJSON(w, 201, RegisterResponse{Username: name, Display: req.Username})
	})
	mux.HandleFunc("POST /v1/login", func(w http.ResponseWriter, r *http.Request) {
		var req LoginRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, 400, ErrorResponse{Error: CodeBadRequest, Message: err.Error()})
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		pw, ok := f.passwords[req.Username]
		if !ok || pw != req.Password {
			writeJSON(w, 401, ErrorResponse{Error: CodeUnauthorized, Message: "wrong username or password"})
			return
		}
		peer, err := crypto.ParsePublicKey(req.PeerKey)
		if err != nil || !ed25519.Verify(peer, LoginProofMessage(req.Username, req.PeerKey, req.Time), req.Proof) {
			writeJSON(w, 401, ErrorResponse{Error: CodeBadProof, Message: "bad proof"})
			return
		}
		f.serial++
		cert, err := crypto.IssueCertificate(f.key, req.Username, peer, f.serial, time.Now(), 24*time.Hour)
		if err != nil {
			writeJSON(w, 500, ErrorResponse{Error: CodeInternal, Message: err.Error()})
			return
		}
		raw := cert.Marshal()
		if f.forgeCert != nil {
			raw = f.forgeCert(req)
		}
		f.certs[req.Username] = append([][]byte{raw}, f.certs[req.Username]...)
		writeJSON(w, 200, LoginResponse{Username: req.Username, Certificate: raw, Expires: cert.Expires, DirectoryKey: crypto.EncodePublicKey(f.pub())})
	})
	mux.HandleFunc("GET /v1/users/{name}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		name := r.PathValue("name")
		if _, ok := f.passwords[name]; !ok {
			writeJSON(w, 404, ErrorResponse{Error: CodeNotFound, Message: "no such user"})
			return
		}
		writeJSON(w, 200, UserResponse{Username: name, Display: name, Certificates: f.certs[name], Nodes: []NodeInfo{}})
	})
	mux.HandleFunc("GET /v1/users", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		prefix := r.URL.Query().Get("prefix")
		resp := SearchResponse{Users: []UserSummary{}}
		for name := range f.passwords {
			if strings.HasPrefix(name, prefix) {
				resp.Users = append(resp.Users, UserSummary{Username: name, Display: name})
			}
		}
		writeJSON(w, 200, resp)
	})
	return mux
}

// startTLS serves h over TLS with a self-signed certificate whose key is
// key, as the directory does.
func startTLS(t *testing.T, key ed25519.PrivateKey, h http.Handler) *httptest.Server {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}
