package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
)

// binary is the peercall-directory built by TestMain.
var binary string

func TestMain(m *testing.M) {
	if spec := os.Getenv(attackHelperEnv); spec != "" {
		runAttackHelper(spec)
		return
	}
	dir, err := os.MkdirTemp("", "peercall-directory-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "peercall-directory")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running directory process.
type proc struct {
	cmd    *exec.Cmd
	key    string // the printed directory key
	url    string // the printed listening URL
	stderr *bytes.Buffer
	done   chan error
}

// start runs the binary and waits for it to print its key and URL.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if f := os.Getenv("PEERCALL_DIRECTORY_STDERR"); f != "" { // a copy for a long run's post-mortem
		if out, err := os.Create(f); err == nil {
			cmd.Stderr = io.MultiWriter(p.stderr, out)
			t.Cleanup(func() { out.Close() })
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		for range lines {
		}
	})
	deadline := time.After(20 * time.Second)
	for p.url == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				// Wait returns once stderr is copied: only then is
				// the buffer safe to read.
				err := <-p.done
				p.done <- err
				t.Fatalf("directory exited before listening (%v): %s", err, p.stderr)
			}
			if k, ok := strings.CutPrefix(l, "directory key: "); ok {
				p.key = k
			}
			if u, ok := strings.CutPrefix(l, "listening on "); ok {
				p.url = u
			}
		case <-deadline:
			t.Fatalf("directory did not print its URL in 20 s: %s", p.stderr)
		}
	}
	go func() {
		for range lines {
		}
	}()
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(20 * time.Second):
		t.Fatalf("directory did not exit in 20 s: %s", p.stderr)
		return -1
	}
}

func post(t *testing.T, c *http.Client, url string, v any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(v)
	resp, err := c.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func login(t *testing.T, c *http.Client, base, name, password string) (int, []byte) {
	t.Helper()
	node, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pk := crypto.EncodePublicKey(node.Public().(ed25519.PublicKey))
	now := time.Now()
	return post(t, c, base+"/v1/login", directory.LoginRequest{Username: name, Password: password, PeerKey: pk, Time: now,
		Proof: ed25519.Sign(node, directory.LoginProofMessage(name, pk, now))})
}

// TestKillNineKeepsAcknowledgedRegistrations kills the directory with
// SIGKILL right after each 201 and checks, after a restart, that every
// acknowledged registration is there.
func TestKillNineKeepsAcknowledgedRegistrations(t *testing.T) {
	data := t.TempDir()
	args := []string{"--insecure-http", "--listen", "127.0.0.1:0", "--data", data}
	c := &http.Client{Timeout: 10 * time.Second}
	var key string
	var users []string
	for i := range 5 {
		p := start(t, args...)
		if key == "" {
			key = p.key
		} else if p.key != key {
			t.Fatalf("restart %d printed key %q, first start %q", i, p.key, key)
		}
		name := fmt.Sprintf("durable%d", i)
		status, body := post(t, c, p.url+"/v1/register", directory.RegisterRequest{Username: name, Password: "password of " + name})
		if status != http.StatusCreated {
			t.Fatalf("register %s: %d %s", name, status, body)
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		users = append(users, name)
		if code := p.wait(t); code != -1 {
			t.Fatalf("after SIGKILL exit code %d, want -1 (killed)", code)
		}
	}
	p := start(t, args...)
	for _, name := range users {
		if status, body := login(t, c, p.url, name, "password of "+name); status != http.StatusOK {
			t.Errorf("login %s after kill -9 and restart: %d %s", name, status, body)
		}
	}
	if info, err := os.Stat(filepath.Join(data, "directory.key")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("directory.key: %v, mode %v, want 0600", err, info.Mode().Perm())
	}
}

func TestTLSWithPinnedKeyAndGracefulShutdown(t *testing.T) {
	data := t.TempDir()
	p := start(t, "--listen", "127.0.0.1:0", "--data", data, "--metrics", "127.0.0.1:0")
	if !strings.HasPrefix(p.url, "https://127.0.0.1:") {
		t.Fatalf("URL %q, want https://127.0.0.1:PORT", p.url)
	}
	pub, err := crypto.ParsePublicKey(p.key)
	if err != nil {
		t.Fatalf("printed key %q: %v", p.key, err)
	}
	stored, err := crypto.LoadKey(filepath.Join(data, "directory.key"))
	if err != nil || !pub.Equal(stored.Public()) {
		t.Fatalf("printed key is not the stored key: %v", err)
	}
	tr := &http.Transport{TLSClientConfig: directory.PinnedTLSConfig(pub)}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	status, body := post(t, c, p.url+"/v1/register", directory.RegisterRequest{Username: "Pinned", Password: "pinned's password"})
	if status != http.StatusCreated {
		t.Fatalf("register over pinned TLS: %d %s", status, body)
	}
	if status, body := login(t, c, p.url, "pinned", "pinned's password"); status != http.StatusOK {
		t.Fatalf("login over pinned TLS: %d %s", status, body)
	} else {
		var lr directory.LoginResponse
		json.Unmarshal(body, &lr)
		cert, err := crypto.ParseCertificate(lr.Certificate)
		if err != nil || cert.Verify(pub, time.Now()) != nil {
			t.Fatalf("certificate from the binary does not verify with the printed key: %v", err)
		}
	}
	resp, err := c.Get(p.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `peercall_directory_registrations_total{result="created"} 1`) || !strings.Contains(string(b), "go_goroutines") {
		t.Errorf("/metrics lacks the directory or Go metrics")
	}
	// Another pin is refused.
	other, _ := crypto.GenerateKey()
	tr2 := &http.Transport{TLSClientConfig: directory.PinnedTLSConfig(other.Public().(ed25519.PublicKey))}
	defer tr2.CloseIdleConnections()
	if _, err := (&http.Client{Transport: tr2}).Get(p.url + "/v1/key"); err == nil {
		t.Fatal("a client pinning another key was answered")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0: %s", code, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "shutting down") {
		t.Errorf("no shutdown log: %s", p.stderr)
	}
}

func TestMetricsListener(t *testing.T) {
	cmd := exec.Command(binary, "--insecure-http", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--metrics", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(out)
	var murl string
	for murl == "" && sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "metrics on "); ok {
			murl = u
		}
	}
	go io.Copy(io.Discard, out)
	resp, err := http.Get(murl)
	if err != nil {
		t.Fatalf("GET %s: %v", murl, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "peercall_directory_hashes_in_flight") {
		t.Fatalf("metrics listener: %d %.200s", resp.StatusCode, b)
	}
}

func TestFlagRefusals(t *testing.T) {
	tests := []struct {
		args    []string
		mention string
	}{
		{[]string{"--insecure-http", "--listen", ":7443"}, "loopback"},
		{[]string{"--insecure-http", "--listen", "0.0.0.0:7443"}, "loopback"},
		{[]string{"--insecure-http", "--listen", "192.0.2.1:7443"}, "loopback"},
		{[]string{"--tls-cert", "a.pem"}, "--tls-key"},
		{[]string{"--insecure-http", "--listen", "127.0.0.1:0", "--tls-cert", "a", "--tls-key", "b"}, "contradict"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"--trusted-proxy", "not-a-cidr"}, "10.0.0.0/8"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), append(tc.args, "--data", t.TempDir()), &stdout, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), tc.mention) {
				t.Fatalf("exit %d, stderr %q; want %d mentioning %q", code, stderr.String(), exitUsage, tc.mention)
			}
		})
	}
	// The real binary refuses too, before creating anything.
	data := filepath.Join(t.TempDir(), "d")
	out, err := exec.Command(binary, "--insecure-http", "--listen", "0.0.0.0:0", "--data", data).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage || !strings.Contains(string(out), "loopback") {
		t.Fatalf("binary: %v, %s", err, out)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("refused start created %s", data)
	}
}

func TestTrustedProxyFlag(t *testing.T) {
	o, err := parseFlags([]string{"--trusted-proxy", "10.1.2.3/8", "--trusted-proxy", "192.0.2.1", "--trusted-proxy", "fd00::/8"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range o.proxies {
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/8 192.0.2.1/32 fd00::/8" {
		t.Fatalf("trusted proxies %q", got)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:0": true, "[::1]:7443": true, "localhost:80": true, "127.1.2.3:1": true,
		":7443": false, "0.0.0.0:1": false, "[::]:1": false, "10.0.0.1:1": false, "example.com:1": false, "junk": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
}
