package directory

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
)

// recordingSleep records the waits of a retry loop instead of sleeping.
type recordingSleep struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (r *recordingSleep) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delays = append(r.delays, d)
	return ctx.Err()
}

func (r *recordingSleep) got() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.delays)
}

func newTestClient(t *testing.T, url string, key ed25519.PublicKey, p RetryPolicy) *Client {
	t.Helper()
	c, err := NewClient(url, ClientOptions{DirectoryKey: key, Retry: p, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRetryHonoursRetryAfterWithJitter(t *testing.T) {
	const base = 100 * time.Millisecond
	tests := []struct {
		name       string
		status     int
		retryAfter string
		failures   int     // answers with status before a success
		rnd        float64 // the injected uniform number
		want       []time.Duration
		wantErr    error
		wantCalls  int
	}{
		{
			name: "503 with Retry-After then success", status: 503, retryAfter: "2", failures: 2, rnd: 0.5,
			want:      []time.Duration{2*time.Second + base/2, 2*time.Second + base},
			wantCalls: 3,
		},
		{
			name: "429 without Retry-After: pure full jitter", status: 429, failures: 3, rnd: 0.25,
			want:      []time.Duration{base / 4, base / 2, 300 * time.Millisecond / 4}, // third capped by MaxDelay
			wantCalls: 4,
		},
		{
			name: "jitter near one stays under the exponential cap", status: 503, failures: 3, rnd: 0.999,
			want:      []time.Duration{99900 * time.Microsecond, 199800 * time.Microsecond, 300 * time.Millisecond * 999 / 1000},
			wantCalls: 4,
		},
		{
			name: "bounded attempts: always 503", status: 503, retryAfter: "1", failures: 100, rnd: 0,
			want:    []time.Duration{time.Second, time.Second, time.Second},
			wantErr: ErrOverloaded, wantCalls: 4,
		},
		{
			name: "Retry-After beyond the policy's maximum is not waited for", status: 429, retryAfter: "3600", failures: 1, rnd: 0.5,
			want: nil, wantErr: ErrThrottled, wantCalls: 1,
		},
		{
			name: "404 is not retried", status: 404, failures: 1, rnd: 0.5,
			want: nil, wantErr: ErrNotFound, wantCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				if int(n) <= tt.failures {
					if tt.retryAfter != "" {
						w.Header().Set("Retry-After", tt.retryAfter)
					}
					code := map[int]string{503: CodeOverloaded, 429: CodeThrottled, 404: CodeNotFound}[tt.status]
					writeJSON(w, tt.status, ErrorResponse{Error: code, Message: "busy"})
					return
				}
				writeJSON(w, 200, SearchResponse{Users: []UserSummary{{Username: "alice", Display: "Alice"}}})
			}))
			defer srv.Close()
			rec := &recordingSleep{}
			policy := RetryPolicy{
				MaxAttempts: 4, BaseDelay: base, MaxDelay: 300 * time.Millisecond, MaxRetryAfter: 10 * time.Second,
				Rand: func() float64 { return tt.rnd }, Sleep: rec.sleep,
			}
			c := newTestClient(t, srv.URL, make(ed25519.PublicKey, ed25519.PublicKeySize), policy)
			resp, err := c.Search(t.Context(), "al", "", 10)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Search error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && (len(resp.Users) != 1 || resp.Users[0].Username != "alice") {
				t.Errorf("Search = %+v, want alice", resp)
			}
			if got := rec.got(); !slices.Equal(got, tt.want) {
				t.Errorf("waits = %v, want %v", got, tt.want)
			}
			if got := int(calls.Load()); got != tt.wantCalls {
				t.Errorf("server saw %d requests, want %d", got, tt.wantCalls)
			}
			var apiErr *APIError
			if tt.wantErr != nil && errors.As(err, &apiErr) && tt.retryAfter != "" {
				if want := parseRetryAfter(tt.retryAfter, time.Now()); apiErr.RetryAfter != want {
					t.Errorf("APIError.RetryAfter = %v, want %v", apiErr.RetryAfter, want)
				}
			}
		})
	}
}

func TestBackoffIsFullJitterBelowCappedExponential(t *testing.T) {
	p := RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	for retry := range 70 {
		ceiling := min(time.Second, 100*time.Millisecond<<min(retry, 20))
		for _, r := range []float64{0, 0.3, 0.999999} {
			p.Rand = func() float64 { return r }
			got := p.Backoff(retry)
			want := time.Duration(r * float64(ceiling))
			if got != want || got < 0 || got >= time.Second {
				t.Fatalf("Backoff(%d) with rand %v = %v, want %v (< cap %v)", retry, r, got, want, ceiling)
			}
		}
	}
	// With the real random source the waits of many clients spread out.
	p.Rand = nil
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[p.Backoff(3)] = true
	}
	if len(seen) < 40 {
		t.Errorf("50 jittered backoffs gave only %d distinct values; jitter is not spreading retries", len(seen))
	}
}

func TestNetworkErrorsRetriedOnlyWhenIdempotent(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more: every dial is refused
	tests := []struct {
		name      string
		call      func(c *Client) error
		wantWaits int
	}{
		{"GET users is retried", func(c *Client) error { _, err := c.Search(t.Context(), "a", "", 0); return err }, 2},
		{"POST register is not", func(c *Client) error { _, err := c.Register(t.Context(), "alice", "pw"); return err }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingSleep{}
			c := newTestClient(t, url, make(ed25519.PublicKey, 32), RetryPolicy{MaxAttempts: 3, Sleep: rec.sleep})
			err := tt.call(c)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("error = %v, want ErrUnavailable", err)
			}
			if !strings.Contains(err.Error(), "not reachable") {
				t.Errorf("error %q does not say the directory is not reachable", err)
			}
			if got := len(rec.got()); got != tt.wantWaits {
				t.Errorf("retried %d times, want %d", got, tt.wantWaits)
			}
		})
	}
}

func TestRetryWaitEndsWithContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "20")
		writeJSON(w, 503, ErrorResponse{Error: CodeOverloaded, Message: "busy"})
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, make(ed25519.PublicKey, 32), RetryPolicy{MaxRetryAfter: time.Minute})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := c.Search(ctx, "a", "", 0)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrOverloaded) {
		t.Fatalf("error = %v, want the 503 and context.Canceled", err)
	}
}

func TestRegisterNameTakenCarriesSuggestions(t *testing.T) {
	f := newFakeDirectory(t)
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	c := newTestClient(t, srv.URL, f.pub(), RetryPolicy{})
	if _, err := c.Register(t.Context(), "Alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Register(t.Context(), "alice", "another password")
	if !errors.Is(err, ErrNameTaken) {
		t.Fatalf("second registration: %v, want ErrNameTaken", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v is not an *APIError", err)
	}
	if want := []string{"alice2", "alice_1"}; !slices.Equal(apiErr.Suggestions, want) || apiErr.Status != 409 {
		t.Errorf("APIError = %+v, want status 409 with suggestions %v", apiErr, want)
	}
}

func TestLogin(t *testing.T) {
	f := newFakeDirectory(t)
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	c := newTestClient(t, srv.URL, f.pub(), RetryPolicy{})
	if _, err := c.Register(t.Context(), "Alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	key, _ := crypto.GenerateKey()
	other, _ := crypto.GenerateKey()
	otherPub := other.Public().(ed25519.PublicKey)
	stranger, _ := crypto.GenerateKey()

	tests := []struct {
		name     string
		password string
		forge    func(req LoginRequest) []byte
		wantErr  error
	}{
		{name: "right password", password: "correct horse battery"},
		{name: "wrong password", password: "wrong", wantErr: ErrAuthFailed},
		{name: "certificate of another key", password: "correct horse battery", wantErr: ErrBadResponse,
			forge: func(req LoginRequest) []byte {
				c, _ := crypto.IssueCertificate(f.key, req.Username, otherPub, 99, time.Now(), time.Hour)
				return c.Marshal()
			}},
		{name: "certificate of another user", password: "correct horse battery", wantErr: ErrBadResponse,
			forge: func(req LoginRequest) []byte {
				peer, _ := crypto.ParsePublicKey(req.PeerKey)
				c, _ := crypto.IssueCertificate(f.key, "mallory", peer, 99, time.Now(), time.Hour)
				return c.Marshal()
			}},
		{name: "certificate signed by another key", password: "correct horse battery", wantErr: ErrBadResponse,
			forge: func(req LoginRequest) []byte {
				peer, _ := crypto.ParsePublicKey(req.PeerKey)
				c, _ := crypto.IssueCertificate(stranger, req.Username, peer, 99, time.Now(), time.Hour)
				return c.Marshal()
			}},
		{name: "garbage certificate", password: "correct horse battery", wantErr: ErrBadResponse,
			forge: func(LoginRequest) []byte { return []byte("PCCT garbage") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.mu.Lock()
			f.forgeCert = tt.forge
			f.mu.Unlock()
			cert, resp, err := c.Login(t.Context(), LoginParams{Username: "ALICE", Password: tt.password, Key: key})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Login error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cert.Username != "alice" || !cert.PeerKey.Equal(key.Public()) || resp.Username != "alice" {
				t.Errorf("certificate %+v / response %+v, want alice's certificate of our key", cert, resp)
			}
			if err := cert.Verify(f.pub(), time.Now()); err != nil {
				t.Errorf("certificate does not verify: %v", err)
			}
		})
	}
}

func TestUserDropsInvalidCertificates(t *testing.T) {
	f := newFakeDirectory(t)
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	c := newTestClient(t, srv.URL, f.pub(), RetryPolicy{})
	if _, err := c.Register(t.Context(), "bob", "a long password"); err != nil {
		t.Fatal(err)
	}
	key, _ := crypto.GenerateKey()
	good, _, err := c.Login(t.Context(), LoginParams{Username: "bob", Password: "a long password", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := crypto.GenerateKey()
	forged, _ := crypto.IssueCertificate(stranger, "bob", key.Public().(ed25519.PublicKey), 7, time.Now(), time.Hour)
	expired, _ := crypto.IssueCertificate(f.key, "bob", key.Public().(ed25519.PublicKey), 8, time.Now().Add(-48*time.Hour), time.Hour)
	other, _ := crypto.IssueCertificate(f.key, "carol", key.Public().(ed25519.PublicKey), 9, time.Now(), time.Hour)
	f.mu.Lock()
	f.certs["bob"] = append(f.certs["bob"], forged.Marshal(), expired.Marshal(), other.Marshal(), []byte("junk"))
	f.mu.Unlock()

	u, err := c.User(t.Context(), "Bob")
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Certificates) != 1 || string(u.Certificates[0]) != string(good.Marshal()) {
		t.Errorf("User kept %d certificates, want only the valid one", len(u.Certificates))
	}
	if _, err := c.User(t.Context(), "nobody-here"); !errors.Is(err, ErrNotFound) {
		t.Errorf("User of an unknown name: %v, want ErrNotFound", err)
	}
}

func TestResponsesAreBoundedAndStrict(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"oversized", `{"users":[],"next":"` + strings.Repeat("a", MaxResponseBytes) + `"}`},
		{"trailing data", `{"users":[]} {"users":[]}`},
		{"not JSON", `<html>proxy error</html>`},
		{"wrong type", `{"users":"alice"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL, make(ed25519.PublicKey, 32), RetryPolicy{})
			if _, err := c.Search(t.Context(), "a", "", 0); !errors.Is(err, ErrBadResponse) {
				t.Fatalf("Search = %v, want ErrBadResponse", err)
			}
		})
	}
}

// A newer directory may add fields to its answers; a client already
// installed must keep working.
func TestResponsesToleratesNewFields(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"users":[{"username":"alice","display":"Alice","avatar":"x"}],"total":1}`)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, make(ed25519.PublicKey, 32), RetryPolicy{})
	res, err := c.Search(t.Context(), "a", "", 0)
	if err != nil {
		t.Fatalf("Search with an answer holding new fields: %v", err)
	}
	if len(res.Users) != 1 || res.Users[0].Username != "alice" {
		t.Fatalf("Search = %+v, want alice", res)
	}
}

func TestPinnedKeyOverTLS(t *testing.T) {
	f := newFakeDirectory(t)
	srv := startTLS(t, f.key, f.handler())
	impostorKey, _ := crypto.GenerateKey()
	impostor := startTLS(t, impostorKey, f.handler()) // serves f's key in /v1/key, but its TLS key is its own

	t.Run("pinned key accepted", func(t *testing.T) {
		c := newTestClient(t, srv.URL, f.pub(), RetryPolicy{})
		if _, err := c.Register(t.Context(), "carol", "a long password"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("mismatch refused, not retried", func(t *testing.T) {
		rec := &recordingSleep{}
		c := newTestClient(t, impostor.URL, f.pub(), RetryPolicy{Sleep: rec.sleep})
		_, err := c.Search(t.Context(), "c", "", 0)
		if !errors.Is(err, ErrKeyMismatch) {
			t.Fatalf("a server whose TLS key is not the pinned key: %v, want ErrKeyMismatch", err)
		}
		if len(rec.got()) != 0 {
			t.Errorf("a key mismatch was retried %d times", len(rec.got()))
		}
	})
	t.Run("trust on first use returns the TLS key", func(t *testing.T) {
		c := newTestClient(t, srv.URL, nil, RetryPolicy{})
		got, err := c.Key(t.Context())
		if err != nil || !got.Equal(f.pub()) {
			t.Fatalf("Key = %v, %v; want the directory key", got, err)
		}
		if _, err := c.Search(t.Context(), "c", "", 0); !errors.Is(err, ErrNoPinnedKey) {
			t.Errorf("Search without a pinned key: %v, want ErrNoPinnedKey", err)
		}
	})
	t.Run("trust on first use refuses a key that is not the TLS key", func(t *testing.T) {
		c := newTestClient(t, impostor.URL, nil, RetryPolicy{})
		if _, err := c.Key(t.Context()); !errors.Is(err, ErrBadResponse) {
			t.Fatalf("Key from an impostor = %v, want ErrBadResponse", err)
		}
	})
}

func TestParseDirectoryURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://dir.example.net:7443", true},
		{"https://dir.example.net/peercall/", true},
		{"http://127.0.0.1:7443", true},
		{"http://[::1]:7443", true},
		{"http://localhost:7443", true},
		{"http://dir.example.net:7443", false},
		{"http://10.0.0.1:7443", false},
		{"ftp://127.0.0.1", false},
		{"https://user:pw@dir.example.net", false},
		{"https://dir.example.net/?x=1", false},
		{"dir.example.net:7443", false},
		{"", false},
	}
	for _, tt := range tests {
		_, err := ParseDirectoryURL(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("ParseDirectoryURL(%q) error = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		h    string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"-1", 0},
		{"soon", 0},
		{"99999999999", 0},
		{"4000000", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.h, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.h, got, tt.want)
		}
	}
}

func FuzzClientDecoding(f *testing.F) {
	f.Add([]byte(`{"users":[{"username":"alice","display":"Alice"}],"next":"alice"}`), "5")
	f.Add([]byte(`{"error":"name_taken","message":"taken","suggestions":["a2"]}`), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add([]byte(`{"username":"a","certificate":"UENDVA==","expires":"2026-01-01T00:00:00Z","directory_key":"x"}`), "")
	f.Add([]byte(`{"users":[]} x`), "-3")
	f.Fuzz(func(t *testing.T, data []byte, retryAfter string) {
		if d := parseRetryAfter(retryAfter, time.Now()); d < 0 || d > maxRetryAfterHeader {
			t.Fatalf("parseRetryAfter(%q) = %v out of range", retryAfter, d)
		}
		for _, out := range []any{&SearchResponse{}, &ErrorResponse{}, &LoginResponse{}, &UserResponse{}, &KeyResponse{}, &BootstrapResponse{}, &RegisterResponse{}} {
			_ = decodeStrict(data, out)
		}
	})
}
