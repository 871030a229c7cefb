package main

import (
	"bytes"
	"context"
	"database/sql"
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
	"github.com/peercall/peercall/directory/store"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "directory.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFileAndFlags: the file sets, flags override, everything
// reaches the server's and the listener's configuration.
func TestConfigFileAndFlags(t *testing.T) {
	cfg := writeConfig(t, `
listen = "127.0.0.1:0"
cert_validity = "2d"
login_failures_per_name = 7
login_window = "20m"
registrations_per_addr = 30
max_conns_per_addr = 99
trusted_proxies = ["10.0.0.0/8", "192.0.2.1"]
dialback = false
min_free_disk_mib = 0
`)
	s, err := loadSettings([]string{"--config", cfg, "--login-failures-per-name", "9", "--trusted-proxy", "fd00::/8"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	sc, cc := s.serverConfig(), s.connConfig()
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"listen (file)", s.Listen, "127.0.0.1:0"},
		{"cert_validity (file, days)", sc.CertValidity, 48 * time.Hour},
		{"login_failures_per_name (flag over file)", sc.Limits.LoginFailuresPerName, 9},
		{"login_window (file)", sc.Limits.LoginWindow, 20 * time.Minute},
		{"registrations_per_addr (file)", sc.Limits.RegistrationsPerAddr, 30},
		{"max_conns_per_addr (file)", cc.MaxConnsPerAddr, 99},
		{"trusted proxies (flag replaces file)", fmt.Sprint(sc.TrustedProxies), "[fd00::/8]"},
		{"connection limits exempt the proxies", fmt.Sprint(cc.Exempt), "[fd00::/8]"},
		{"dialback (file)", s.DialBack, false},
		{"min_free_disk_mib 0 is off", sc.MinFreeDisk, int64(-1)},
		{"a default", sc.Limits.LoginFailuresPerAddr, 50},
		{"db derived from data", s.DB, "sqlite:///var/lib/peercall-directory/directory.db"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

// TestConfigRefusals: unknown keys, wrong types and out-of-range settings
// stop the start with a message naming the setting.
func TestConfigRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		args       []string
		mention    []string
	}{
		{"unknown keys", "max_conn = 5\nlogin_failures = 3\n", nil, []string{"unknown setting", "login_failures, max_conn"}},
		{"a table", "[limits]\nmax_conns = 5\n", nil, []string{"unknown setting limits"}},
		{"wrong type", `max_conns = "many"`, nil, []string{"max_conns", "whole number"}},
		{"duration without quotes", "login_window = 15", nil, []string{"login_window", "duration"}},
		{"bad duration", `login_window = "15 minutes"`, nil, []string{"login_window", "7d"}},
		{"zero from the file", "max_conns_per_addr = 0", nil, []string{"max_conns_per_addr (--max-conns-per-addr) is 0", "at least 1"}},
		{"zero from a flag", "", []string{"--registrations-per-addr", "0"}, []string{"registrations_per_addr (--registrations-per-addr) is 0"}},
		{"short cert validity", "", []string{"--cert-validity", "5s"}, []string{"cert_validity (--cert-validity) is 5s", "at least 10s"}},
		{"short checkin ttl", "", []string{"--checkin-ttl", "1s"}, []string{"checkin_ttl (--checkin-ttl) is 1s", "at least 5s"}},
		{"retry bounds", "", []string{"--retry-after-min", "10s", "--retry-after-max", "5s"}, []string{"retry_after_max", "retry_after_min"}},
		{"high water above the cap", "", []string{"--max-conns", "100", "--conns-high-water", "200"}, []string{"conns_high_water", "max_conns (100)"}},
		{"max_conns above the open-file limit", "", []string{"--max-conns", "100000000"}, []string{"max_conns (--max-conns)", "open-file limit"}},
		{"argon2", "", []string{"--argon2-memory-kib", "999999999"}, []string{"argon2_memory_kib", "memory"}},
		{"bad proxy in the file", `trusted_proxies = ["nope"]`, nil, []string{"trusted_proxies", "10.0.0.0/8"}},
		{"missing file", "", []string{"--config", "/nonexistent/directory.toml"}, []string{"/nonexistent/directory.toml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeConfig(t, tc.file)}, args...)
			}
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), append(args, "--data", t.TempDir()), &stdout, &stderr)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", code, exitUsage, stderr.String())
			}
			for _, m := range tc.mention {
				if !strings.Contains(stderr.String(), m) {
					t.Errorf("stderr %q does not mention %q", stderr.String(), m)
				}
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour, "90s": 90 * time.Second, "15m": 15 * time.Minute, " 2h ": 2 * time.Hour} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "7days", "xd", "1d1", "seven"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) succeeded, want an error", in)
		}
	}
	if s := formatDuration(7 * 24 * time.Hour); s != "7d" {
		t.Errorf("formatDuration(7d) = %q", s)
	}
}

// TestBinaryUsesConfigAndLogsLimitsOnce runs the binary with a config
// file and --cert-validity: the certificate it issues lasts what the flag
// says, and the effective settings are logged once.
func TestBinaryUsesConfigAndLogsLimitsOnce(t *testing.T) {
	cfg := writeConfig(t, "cert_validity = \"7d\"\nregistrations_per_addr = 33\ninsecure_http = true\nlisten = \"127.0.0.1:0\"\n")
	p := start(t, "--config", cfg, "--data", t.TempDir(), "--cert-validity", "2h")
	c := &http.Client{Timeout: 10 * time.Second}
	if status, body := post(t, c, p.url+"/v1/register", directory.RegisterRequest{Username: "val", Password: "val's password"}); status != http.StatusCreated {
		t.Fatalf("register: %d %s", status, body)
	}
	before := time.Now()
	status, body := login(t, c, p.url, "val", "val's password")
	if status != http.StatusOK {
		t.Fatalf("login: %d %s", status, body)
	}
	var lr directory.LoginResponse
	json.Unmarshal(body, &lr)
	cert, err := crypto.ParseCertificate(lr.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	if d := cert.Expires.Sub(before); d < 2*time.Hour-time.Minute || d > 2*time.Hour+time.Minute {
		t.Errorf("the certificate lasts %v, want the 2h of --cert-validity (over the file's 7d)", d)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	logs := p.stderr.String() // the process has exited: nothing writes it now
	if n := strings.Count(logs, "effective settings"); n != 1 {
		t.Errorf("the effective settings are logged %d times, want once: %s", n, logs)
	}
	for _, want := range []string{"cert_validity=2h0m0s", "registrations_per_addr=33", "max_conns_per_addr=128", "login_failures_per_device=5", "config=" + cfg} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s", want)
		}
	}
}

// TestStartRefusesDamagedDatabase: a page corrupted in the middle of the
// SQLite file stops the start with a clear error.
func TestStartRefusesDamagedDatabase(t *testing.T) {
	data := t.TempDir()
	path := filepath.Join(data, "directory.db")
	st, err := store.Open(context.Background(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := db.Begin()
	for i := range 3000 {
		tx.Exec(`INSERT INTO users (name, display, password_hash, created) VALUES (?, 'x', 'h', 0)`, fmt.Sprintf("user%05d", i))
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := f.Stat()
	f.WriteAt(bytes.Repeat([]byte{0xA5}, 4096), (info.Size()/4096/2)*4096)
	f.Close()

	out, err := exec.Command(binary, "--insecure-http", "--listen", "127.0.0.1:0", "--data", data).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFailure {
		t.Fatalf("start on a damaged database: %v, %s", err, out)
	}
	for _, want := range []string{path, "damaged", "restore", "backup"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not mention %q: %s", want, out)
		}
	}
	// Skipping the check is the operator's choice.
	p := start(t, "--insecure-http", "--listen", "127.0.0.1:0", "--data", data, "--integrity-check=false")
	if p.url == "" {
		t.Fatal("the directory did not start with --integrity-check=false")
	}
}
