package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/server"
	"github.com/peercall/peercall/directory/store"
	"github.com/peercall/peercall/home"
)

// testDirectory is a real directory server (real SQLite store in a
// temporary directory) serving HTTPS on 127.0.0.1 with its self-signed
// certificate, as peercall-directory does.
type testDirectory struct {
	url string
	key ed25519.PublicKey
}

func startDirectory(t *testing.T) testDirectory {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{
		Store: st,
		Key:   key,
		// Cheap argon2id: these tests do not measure hashing.
		Password: crypto.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	cert, err := server.SelfSignedTLS(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.TLS = server.TLSConfig(cert)
	hs.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	hs.StartTLS()
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return testDirectory{url: hs.URL, key: key.Public().(ed25519.PublicKey)}
}

// result is what one in-process run of the CLI printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs peercall in-process with stdin and the given arguments.
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	e := newEnv(strings.NewReader(stdin), &out, &errb)
	e.clientOptions.Timeout = 10 * time.Second
	e.clientOptions.Retry = directory.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	code := run(ctx, e, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

const goodPassword = "correct horse battery staple"

func TestCLIAgainstRealDirectory(t *testing.T) {
	dir := startDirectory(t)
	alice := t.TempDir()
	bob := t.TempDir()
	wrongKeyHome := t.TempDir()
	otherKey, _ := crypto.GenerateKey()
	dirKey := crypto.EncodePublicKey(dir.key)
	// unreachableHome is configured for a directory on a port nobody
	// listens on.
	unreachableHome := t.TempDir()
	if h, err := home.OpenHome(unreachableHome); err != nil {
		t.Fatal(err)
	} else if err := h.SaveConfig(home.Config{
		Directory: home.DirectoryConfig{URL: "https://127.0.0.1:1", Key: dirKey},
		Network:   home.DefaultConfig().Network,
	}); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name       string
		stdin      string
		args       []string
		wantCode   int
		wantStdout []string // substrings
		wantStderr []string
		check      func(t *testing.T, r result)
	}{
		{
			name: "init fetches and pins the key (trust on first use)",
			args: []string{"--home", alice, "init", "--directory", dir.url}, wantCode: 0,
			wantStdout: []string{dirKey, "now pinned"},
			check: func(t *testing.T, r result) {
				h, _ := home.OpenHome(alice)
				cfg, err := h.Config()
				if err != nil || cfg.Directory.Key != dirKey || cfg.Directory.URL != dir.url {
					t.Errorf("saved config = %+v, %v", cfg, err)
				}
			},
		},
		{
			name: "init with a given key",
			args: []string{"--home", bob, "init", "--directory-key", dirKey, "--directory", dir.url}, wantCode: 0,
			wantStdout: []string{dirKey, "pinned"},
		},
		{
			name: "register",
			args: []string{"--home", alice, "register", "Alice", "--password-stdin"}, stdin: goodPassword + "\n", wantCode: 0,
			wantStdout: []string{"registered alice", "peercall login alice"},
		},
		{
			name: "register a taken name: exit 3 with suggestions",
			args: []string{"--home", bob, "register", "alice", "--password-stdin"}, stdin: goodPassword + "\n", wantCode: 3,
			wantStderr: []string{`"alice" is taken`, "names still free: "},
		},
		{
			name: "register a taken name with --json",
			args: []string{"--home", bob, "register", "ALICE", "--json", "--password-stdin"}, stdin: goodPassword + "\n", wantCode: 3,
			check: func(t *testing.T, r result) {
				var je struct {
					Error       string   `json:"error"`
					Message     string   `json:"message"`
					Suggestions []string `json:"suggestions"`
				}
				dec := json.NewDecoder(strings.NewReader(r.stdout))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&je); err != nil {
					t.Fatalf("stdout is not the JSON error object: %v\n%s", err, r.stdout)
				}
				if je.Error != directory.CodeNameTaken || je.Message == "" || len(je.Suggestions) == 0 {
					t.Errorf("JSON error = %+v, want name_taken with a message and suggestions", je)
				}
				for _, s := range je.Suggestions {
					if !strings.HasPrefix(s, "alice") || s == "alice" {
						t.Errorf("suggestion %q is not an alternative to alice", s)
					}
				}
			},
		},
		{
			name: "register bob",
			args: []string{"--home", bob, "register", "bob", "--json", "--password-stdin"}, stdin: goodPassword + "\r\n", wantCode: 0,
			check: func(t *testing.T, r result) {
				var resp directory.RegisterResponse
				if err := json.Unmarshal([]byte(r.stdout), &resp); err != nil || resp.Username != "bob" {
					t.Errorf("JSON = %q (%v), want bob's RegisterResponse", r.stdout, err)
				}
			},
		},
		{
			name: "login saves a certificate that verifies",
			args: []string{"--home", alice, "login", "alice", "--password-stdin"}, stdin: goodPassword + "\n", wantCode: 0,
			wantStdout: []string{"logged in as alice", "peer key:", "new identity key", "expires"},
			check: func(t *testing.T, r result) {
				h, _ := home.OpenHome(alice)
				cert, err := h.Certificate()
				if err != nil {
					t.Fatal(err)
				}
				key, created, err := h.IdentityKey()
				if err != nil || created {
					t.Fatalf("identity key: created=%v err=%v", created, err)
				}
				if err := cert.Verify(dir.key, time.Now()); err != nil {
					t.Errorf("saved certificate does not verify with the directory key: %v", err)
				}
				if cert.Username != "alice" || !cert.PeerKey.Equal(key.Public()) {
					t.Errorf("certificate names %q / %x, want alice / our identity key", cert.Username, cert.PeerKey)
				}
				if name, err := h.Username(); err != nil || name != "alice" {
					t.Errorf("saved username = %q, %v", name, err)
				}
				if !strings.Contains(r.stdout, crypto.EncodePublicKey(key.Public().(ed25519.PublicKey))) {
					t.Errorf("stdout does not show the peer key:\n%s", r.stdout)
				}
			},
		},
		{
			name: "login again keeps the identity key",
			args: []string{"--home", alice, "login", "alice", "--password-stdin"}, stdin: goodPassword + "\n", wantCode: 0,
			check: func(t *testing.T, r result) {
				if strings.Contains(r.stdout, "new identity key") {
					t.Errorf("second login created a new identity key:\n%s", r.stdout)
				}
			},
		},
		{
			name: "wrong password: exit 6",
			args: []string{"--home", bob, "login", "bob", "--password-stdin"}, stdin: "not the password\n", wantCode: 6,
			wantStderr: []string{`log in as "bob"`, "failed"},
		},
		{
			name: "unknown user cannot log in: exit 6",
			args: []string{"--home", bob, "login", "nobody-at-all", "--password-stdin"}, stdin: goodPassword + "\n", wantCode: 6,
		},
		{
			name: "users search",
			args: []string{"--home", bob, "users", "al"}, wantCode: 0,
			wantStdout: []string{"alice"},
			check: func(t *testing.T, r result) {
				if strings.Contains(r.stdout, "bob") {
					t.Errorf("search for al listed bob:\n%s", r.stdout)
				}
			},
		},
		{
			name: "users search with --json",
			args: []string{"--home", bob, "users", "--json", "b"}, wantCode: 0,
			check: func(t *testing.T, r result) {
				var resp directory.SearchResponse
				if err := json.Unmarshal([]byte(r.stdout), &resp); err != nil || len(resp.Users) != 1 || resp.Users[0].Username != "bob" {
					t.Errorf("JSON = %q (%v), want exactly bob", r.stdout, err)
				}
			},
		},
		{
			name: "users search with no hits",
			args: []string{"--home", bob, "users", "zed"}, wantCode: 0,
			wantStdout: []string{`no users whose name starts with "zed"`},
		},
		{
			name: "password never accepted from a flag",
			args: []string{"--home", bob, "register", "carol", "--password", goodPassword}, wantCode: 2,
			wantStderr: []string{"flag provided but not defined: -password"},
		},
		{
			name: "carol was not registered by the refused command",
			args: []string{"--home", bob, "users", "carol"}, wantCode: 0,
			wantStdout: []string{"no users"},
		},
		{
			name: "no terminal and no --password-stdin: exit 2",
			args: []string{"--home", bob, "register", "carol"}, stdin: goodPassword + "\n", wantCode: 2,
			wantStderr: []string{"--password-stdin"},
		},
		{
			name: "empty password on stdin",
			args: []string{"--home", bob, "register", "carol", "--password-stdin"}, stdin: "\n", wantCode: 1,
			wantStderr: []string{"password is empty"},
		},
		{
			name: "invalid username: exit 2",
			args: []string{"--home", bob, "register", "a b", "--password-stdin"}, stdin: goodPassword + "\n", wantCode: 2,
		},
		{
			name: "weak password: exit 2",
			args: []string{"--home", bob, "register", "carol", "--password-stdin"}, stdin: "short\n", wantCode: 2,
			wantStderr: []string{"choose another password"},
		},
		{
			name: "a directory that does not hold the pinned key is refused",
			args: []string{"--home", wrongKeyHome, "init", "--directory", dir.url, "--directory-key", crypto.EncodePublicKey(otherKey.Public().(ed25519.PublicKey))}, wantCode: 0,
		},
		{
			name: "... so register fails naming the key mismatch",
			args: []string{"--home", wrongKeyHome, "register", "dave", "--password-stdin"}, stdin: goodPassword + "\n", wantCode: 1,
			wantStderr: []string{"not the directory whose key is pinned", "does not match the pinned directory key"},
		},
		{
			name: "init without a key refuses to replace a different pinned key",
			args: []string{"--home", wrongKeyHome, "init", "--directory", dir.url}, wantCode: 1,
			wantStderr: []string{"is pinned", "--directory-key " + dirKey},
			check: func(t *testing.T, r result) {
				h, _ := home.OpenHome(wrongKeyHome)
				cfg, _ := h.Config()
				if cfg.Directory.Key == dirKey {
					t.Error("the pinned key was replaced by the fetched one")
				}
			},
		},
		{
			name: "init with the key given explicitly replaces it",
			args: []string{"--home", wrongKeyHome, "init", "--directory", dir.url, "--directory-key", dirKey}, wantCode: 0,
		},
		{
			name: "register before init: exit 1 saying to run init",
			args: []string{"--home", t.TempDir(), "register", "erin", "--password-stdin"}, stdin: goodPassword + "\n", wantCode: 1,
			wantStderr: []string{"init --directory URL"},
		},
		{
			name: "unreachable directory",
			args: []string{"--home", t.TempDir(), "init", "--directory", "https://127.0.0.1:1"}, wantCode: 1,
			wantStderr: []string{"not reachable", "--directory-key"},
		},
		{
			name: "users --json when the directory is gone: exit 1, JSON error",
			args: []string{"--home", unreachableHome, "users", "al", "--json"}, wantCode: 1,
			check: func(t *testing.T, r result) {
				var je jsonError
				if err := json.Unmarshal([]byte(r.stdout), &je); err != nil || je.Error != "unavailable" || !strings.Contains(je.Message, "not reachable") {
					t.Errorf("JSON = %q (%v), want error \"unavailable\" saying the directory is not reachable", r.stdout, err)
				}
			},
		},
		{
			name: "plain http to a remote host refused",
			args: []string{"--home", t.TempDir(), "init", "--directory", "http://dir.example.net:7443"}, wantCode: 2,
			wantStderr: []string{"loopback"},
		},
		{
			name: "unknown command: exit 2 with usage",
			args: []string{"--home", bob, "frobnicate"}, wantCode: 2,
			wantStderr: []string{`unknown command "frobnicate"`, "usage: peercall"},
		},
		{
			name: "no command: exit 2 with usage",
			args: []string{}, wantCode: 2,
			wantStderr: []string{"usage: peercall"},
		},
		{
			name: "missing argument: exit 2",
			args: []string{"--home", bob, "login", "--password-stdin"}, wantCode: 2,
			wantStderr: []string{"usage: peercall login"},
		},
		{
			name: "help: exit 0",
			args: []string{"help"}, wantCode: 0,
			wantStdout: []string{"register", "login", "users", "init"},
		},
	}
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			r := runCLI(t, s.stdin, s.args...)
			t.Logf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			if r.code != s.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, s.wantCode, r.stdout, r.stderr)
			}
			for _, w := range s.wantStdout {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range s.wantStderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if s.check != nil {
				s.check(t, r)
			}
		})
		if !ok {
			t.FailNow() // later steps build on this one
		}
	}
}

func TestReadLine(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "secret\n", want: "secret"},
		{in: "secret\r\n", want: "secret"},
		{in: "secret", want: "secret"},
		{in: "two words here\nsecond line\n", want: "two words here"},
		{in: "\n", wantErr: true},
		{in: "", wantErr: true},
		{in: strings.Repeat("x", maxPasswordBytes) + "\n", want: strings.Repeat("x", maxPasswordBytes)},
		{in: strings.Repeat("x", maxPasswordBytes+1) + "\n", wantErr: true},
	}
	for _, tt := range tests {
		got, err := readLine(strings.NewReader(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("readLine(%.20q...) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDefaultHomeFromEnvironment(t *testing.T) {
	hm := filepath.Join(t.TempDir(), "from-env")
	t.Setenv(home.HomeEnv, hm)
	dir := startDirectory(t)
	if r := runCLI(t, "", "init", "--directory", dir.url); r.code != 0 {
		t.Fatalf("init: %d %s", r.code, r.stderr)
	}
	st, err := os.Stat(filepath.Join(hm, home.ConfigFile))
	if err != nil {
		t.Fatalf("init did not write %s: %v", home.ConfigFile, err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, want 0600", st.Mode().Perm())
	}
}
