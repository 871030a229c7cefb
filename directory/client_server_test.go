package directory_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/server"
	"github.com/peercall/peercall/directory/store"
)

// realDirectory runs the real directory server (SQLite store in a temporary
// directory) over HTTPS on 127.0.0.1 with its self-signed certificate.
func realDirectory(t testing.TB, mutate func(*server.Config)) (url string, key ed25519.PrivateKey) {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	key, err = crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{
		Store:    st,
		Key:      key,
		Password: crypto.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, // cheap: not measured here
		Logger:   slog.New(slog.DiscardHandler),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	cert, err := server.SelfSignedTLS(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.TLS = server.TLSConfig(cert)
	hs.Config.ErrorLog = log.New(io.Discard, "", 0)
	hs.StartTLS()
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return hs.URL, key
}

func TestClientAgainstRealServer(t *testing.T) {
	url, dirKey := realDirectory(t, nil)
	pub := dirKey.Public().(ed25519.PublicKey)
	c, err := directory.NewClient(url, directory.ClientOptions{DirectoryKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const pw = "correct horse battery staple"

	// Trust on first use: an unpinned client fetches the same key.
	tofu, err := directory.NewClient(url, directory.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tofu.Key(ctx); err != nil || !got.Equal(pub) {
		t.Fatalf("Key = %v, %v; want the directory key", got, err)
	}

	reg, err := c.Register(ctx, "Alice", pw)
	if err != nil || reg.Username != "alice" || reg.Display != "Alice" {
		t.Fatalf("Register = %+v, %v", reg, err)
	}

	t.Run("name taken carries suggestions", func(t *testing.T) {
		_, err := c.Register(ctx, "ALICE", pw)
		var apiErr *directory.APIError
		if !errors.Is(err, directory.ErrNameTaken) || !errors.As(err, &apiErr) {
			t.Fatalf("Register of a taken name: %v, want ErrNameTaken with an *APIError", err)
		}
		if apiErr.Status != 409 || len(apiErr.Suggestions) == 0 || slices.Contains(apiErr.Suggestions, "alice") {
			t.Errorf("APIError = %+v, want 409 with alternatives to alice", apiErr)
		}
		// The suggestions are free: the first one registers.
		if _, err := c.Register(ctx, apiErr.Suggestions[0], pw); err != nil {
			t.Errorf("registering suggestion %q: %v", apiErr.Suggestions[0], err)
		}
	})

	node, _ := crypto.GenerateKey()
	t.Run("wrong password", func(t *testing.T) {
		_, _, err := c.Login(ctx, directory.LoginParams{Username: "alice", Password: "not it at all", Key: node})
		if !errors.Is(err, directory.ErrAuthFailed) {
			t.Fatalf("Login with a wrong password: %v, want ErrAuthFailed", err)
		}
	})
	t.Run("login and lookup", func(t *testing.T) {
		cert, resp, err := c.Login(ctx, directory.LoginParams{Username: "Alice", Password: pw, Key: node})
		if err != nil {
			t.Fatal(err)
		}
		ci, err := c.CheckIn(ctx, directory.CheckinParams{Key: node, Certificate: cert, Time: time.Now(), Addrs: []string{"/ip4/127.0.0.1/tcp/7070"}})
		if err != nil || ci.IntervalSeconds <= 0 || !ci.Expires.After(time.Now()) {
			t.Fatalf("CheckIn = %+v, %v", ci, err)
		}
		if cert.Username != "alice" || !cert.PeerKey.Equal(node.Public()) || !resp.Expires.Equal(cert.Expires) {
			t.Errorf("certificate %+v, response %+v", cert, resp)
		}
		u, err := c.User(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if len(u.Certificates) != 1 || string(u.Certificates[0]) != string(cert.Marshal()) {
			t.Errorf("User returned %d certificates, want the one just issued", len(u.Certificates))
		}
		if len(u.Nodes) != 1 || !slices.Equal(u.Nodes[0].Addrs, []string{"/ip4/127.0.0.1/tcp/7070"}) {
			t.Errorf("User nodes = %+v, want the node that checked in", u.Nodes)
		}
		if _, err := c.User(ctx, "nobody-here"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("User of an unknown name: %v, want ErrNotFound", err)
		}
		b, err := c.Bootstrap(ctx, 5)
		if err != nil || len(b.Peers) != 1 {
			t.Errorf("Bootstrap = %+v, %v; want the one node seen", b, err)
		}
	})
	t.Run("renew, revoke, logout everywhere, passwd", func(t *testing.T) {
		if _, err := c.Register(ctx, "rene", pw); err != nil {
			t.Fatal(err)
		}
		key, _ := crypto.GenerateKey()
		cert, _, err := c.Login(ctx, directory.LoginParams{Username: "rene", Password: pw, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		renewed, _, err := c.Renew(ctx, key, cert)
		if err != nil || renewed.Serial == cert.Serial || !renewed.PeerKey.Equal(key.Public()) || renewed.Username != "rene" {
			t.Fatalf("Renew = %+v, %v; want a new certificate of rene's key", renewed, err)
		}
		if l, err := c.Revocations(ctx); err != nil || len(l.Entries) != 0 {
			t.Fatalf("Revocations before any = %+v, %v", l, err)
		}
		if r, err := c.Revoke(ctx, key, cert); err != nil || r.Revoked != 1 {
			t.Fatalf("Revoke = %+v, %v", r, err)
		}
		if _, _, err := c.Renew(ctx, key, cert); !errors.Is(err, directory.ErrRevoked) {
			t.Errorf("Renew of a revoked certificate: %v, want ErrRevoked", err)
		}
		if r, err := c.Logout(ctx, "rene", pw); err != nil || r.Revoked != 1 {
			t.Fatalf("Logout = %+v, %v; want the renewed certificate revoked", r, err)
		}
		l, err := c.Revocations(ctx)
		if err != nil || !l.Revokes(cert.Serial) || !l.Revokes(renewed.Serial) {
			t.Fatalf("Revocations = %+v, %v; want both serials", l, err)
		}
		if _, err := c.CheckIn(ctx, directory.CheckinParams{Key: key, Certificate: renewed, Time: time.Now()}); !errors.Is(err, directory.ErrRevoked) {
			t.Errorf("CheckIn with a revoked certificate: %v, want ErrRevoked", err)
		}
		if err := c.Passwd(ctx, "rene", "wrong password!", "a new password"); !errors.Is(err, directory.ErrAuthFailed) {
			t.Errorf("Passwd with a wrong password: %v, want ErrAuthFailed", err)
		}
		if err := c.Passwd(ctx, "rene", pw, "a new password"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Login(ctx, directory.LoginParams{Username: "rene", Password: pw, Key: key}); !errors.Is(err, directory.ErrAuthFailed) {
			t.Errorf("Login with the old password: %v, want ErrAuthFailed", err)
		}
		if _, _, err := c.Login(ctx, directory.LoginParams{Username: "rene", Password: "a new password", Key: key}); err != nil {
			t.Errorf("Login with the new password: %v", err)
		}
	})
	t.Run("search pages", func(t *testing.T) {
		for _, n := range []string{"alina", "alfred", "bob"} {
			if _, err := c.Register(ctx, n, pw); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		after := ""
		for range 10 {
			page, err := c.Search(ctx, "al", after, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range page.Users {
				got = append(got, u.Username)
			}
			if page.Next == "" {
				break
			}
			after = page.Next
		}
		for _, want := range []string{"alfred", "alice", "alina"} {
			if !slices.Contains(got, want) {
				t.Errorf("search for al gave %v, missing %s", got, want)
			}
		}
		if slices.Contains(got, "bob") {
			t.Errorf("search for al gave %v, including bob", got)
		}
	})
}

// TestClientBacksOffFromThrottledLogins drives the real server's login
// throttle and checks that the client honours its Retry-After.
func TestClientBacksOffFromThrottledLogins(t *testing.T) {
	url, dirKey := realDirectory(t, func(c *server.Config) {
		c.Limits = server.DefaultLimits()
		c.Limits.LoginFailuresPerName = 1
		c.Limits.LoginWindow = time.Hour
	})
	var waits []time.Duration
	c, err := directory.NewClient(url, directory.ClientOptions{
		DirectoryKey: dirKey.Public().(ed25519.PublicKey),
		Retry: directory.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxRetryAfter: 24 * time.Hour,
			Rand: func() float64 { return 0.5 },
			Sleep: func(ctx context.Context, d time.Duration) error {
				waits = append(waits, d)
				return nil
			}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := c.Register(ctx, "carol", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	node, _ := crypto.GenerateKey()
	var last error
	for range 4 {
		_, _, last = c.Login(ctx, directory.LoginParams{Username: "carol", Password: "wrong password!", Key: node})
		if errors.Is(last, directory.ErrThrottled) {
			break
		}
	}
	var apiErr *directory.APIError
	if !errors.Is(last, directory.ErrThrottled) || !errors.As(last, &apiErr) {
		t.Fatalf("repeated wrong logins: %v, want ErrThrottled", last)
	}
	if apiErr.RetryAfter <= 0 {
		t.Errorf("throttled answer has no Retry-After: %+v", apiErr)
	}
	if len(waits) != 2 {
		t.Fatalf("client waited %d times, want 2 (3 attempts)", len(waits))
	}
	for _, w := range waits {
		if w < apiErr.RetryAfter || w > apiErr.RetryAfter+time.Second+2*time.Millisecond {
			t.Errorf("waited %v, want Retry-After (%v) plus a jitter of at most the backoff", w, apiErr.RetryAfter)
		}
	}
}

// BenchmarkClientLookup measures User lookups (with certificate
// verification) through the client over pinned TLS against the real server.
func BenchmarkClientLookup(b *testing.B) {
	url, dirKey := realDirectory(b, nil)
	c, err := directory.NewClient(url, directory.ClientOptions{DirectoryKey: dirKey.Public().(ed25519.PublicKey)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := b.Context()
	if _, err := c.Register(ctx, "alice", "correct horse battery staple"); err != nil {
		b.Fatal(err)
	}
	node, _ := crypto.GenerateKey()
	if _, _, err := c.Login(ctx, directory.LoginParams{Username: "alice", Password: "correct horse battery staple", Key: node}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		u, err := c.User(ctx, "alice")
		if err != nil || len(u.Certificates) != 1 {
			b.Fatalf("User = %d certificates, %v", len(u.Certificates), err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "lookups/s")
}

// TestLookupOfNonASCIINames: names outside ASCII travel in the path
// escaped once (a client that escaped them twice was answered 400).
func TestLookupOfNonASCIINames(t *testing.T) {
	url, dirKey := realDirectory(t, nil)
	c, err := directory.NewClient(url, directory.ClientOptions{DirectoryKey: dirKey.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct{ register, lookup, want string }{
		{"café", "café", "café"},
		{"Zoë.Ü", "ZOË.ü", "zoë.ü"},
		{"東京太郎", "東京太郎", "東京太郎"},
		{"иван_42", "Иван_42", "иван_42"},
		{"plain.name", "Plain.Name", "plain.name"},
	} {
		t.Run(tc.register, func(t *testing.T) {
			if _, err := c.Register(t.Context(), tc.register, "a long password"); err != nil {
				t.Fatalf("register %q: %v", tc.register, err)
			}
			u, err := c.User(t.Context(), tc.lookup)
			if err != nil {
				t.Fatalf("look up %q: %v", tc.lookup, err)
			}
			if u.Username != tc.want {
				t.Fatalf("look up %q answered %q, want %q", tc.lookup, u.Username, tc.want)
			}
		})
	}
}
