package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/internal/callharness"
)

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCLIRun runs `peercall run` in-process until its context ends (what
// SIGINT does): it reports itself, answers `status`, refuses a second node
// on the same home, and stops cleanly.
func TestCLIRun(t *testing.T) {
	d := callharness.StartDirectory(t)
	u := d.NewUser(t, "alice")
	var out, errb lockedBuffer
	e := newEnv(strings.NewReader(""), &out, &errb)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, e, []string{"--home", u.Home.Dir(), "run", "--auto-answer", "--audio-in", "silence", "--audio-out", "null", "--listen", "127.0.0.1:0", "--relay", "off"})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "press Ctrl-C") {
		if time.Now().After(deadline) {
			t.Fatalf("run printed no start message in 20s: %s / %s", out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "running as alice") || !strings.Contains(out.String(), "answered automatically") {
		t.Errorf("start message: %s", out.String())
	}
	r := runHome(t, u.Home, "status")
	if r.code != exitOK || !strings.Contains(r.stdout, "user:         alice") {
		t.Errorf("status: exit %d, %s%s", r.code, r.stdout, r.stderr)
	}
	r = runHome(t, u.Home, "run", "--listen", "127.0.0.1:0")
	if r.code != exitFailure || !strings.Contains(r.stderr, "already running") {
		t.Errorf("second run on the home: exit %d, stderr %q; want 1 and \"already running\"", r.code, r.stderr)
	}
	r = runHome(t, u.Home, "run", "--relay", "sometimes")
	if r.code != exitUsage {
		t.Errorf("run --relay sometimes: exit %d, want %d", r.code, exitUsage)
	}
	stop()
	select {
	case c := <-code:
		if c != exitOK || !strings.Contains(out.String(), "stopped") {
			t.Errorf("run after interrupt: exit %d, output %s, stderr %s", c, out.String(), errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop within 30s of the interrupt")
	}
}

// TestCLIRunLogging: `run` logs at info on stderr by default, warnings
// only with -q, JSON lines with --log-format json; when the configured
// port is taken, `call` (a node on free ports) prints none of libp2p's
// "start failed" errors, yet the fallback is logged with -v.
func TestCLIRunLogging(t *testing.T) {
	d := callharness.StartDirectory(t)
	u := d.NewUser(t, "alice")
	runFor := func(args ...string) string {
		t.Helper()
		var out, errb lockedBuffer
		e := newEnv(strings.NewReader(""), &out, &errb)
		ctx, stop := context.WithCancel(t.Context())
		code := make(chan int, 1)
		go func() {
			code <- run(ctx, e, append([]string{"--home", u.Home.Dir()}, append(args, "run", "--listen", "127.0.0.1:0", "--relay", "off")...))
		}()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), "press Ctrl-C") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		if c := <-code; c != exitOK {
			t.Fatalf("run %v: exit %d: %s", args, c, errb.String())
		}
		return errb.String()
	}
	if got := runFor(); !strings.Contains(got, `level=INFO msg="node started"`) {
		t.Errorf("run logs no info line on stderr by default:\n%s", got)
	}
	if got := runFor("-q"); strings.Contains(got, "level=INFO") {
		t.Errorf("run -q logs info lines:\n%s", got)
	}
	got := runFor("--log-format", "json")
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("run --log-format json logged nothing")
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["level"] == nil || rec["msg"] == nil {
			t.Errorf("not a JSON log line: %q (%v)", l, err)
		}
	}

	// The configured port is taken (TCP and UDP, as by another node): call
	// falls back to free ports quietly.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyUDP, err := net.ListenPacket("udp", busy.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer busyUDP.Close()
	cfg, err := u.Home.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Network.Listen = []string{busy.Addr().String()}
	if err := u.Home.SaveConfig(cfg); err != nil {
		t.Fatal(err)
	}
	for _, verbose := range []bool{false, true} {
		args := []string{"call", "nobody-here", "--audio-in", "silence", "--audio-out", "null"}
		if verbose {
			args = append([]string{"-v"}, args...)
		}
		r := runProcess(t, u.Home, args...)
		if r.code != exitUnknownUser {
			t.Fatalf("call nobody-here on a busy port: exit %d, want %d: %s", r.code, exitUnknownUser, r.stderr)
		}
		if !verbose && (strings.Contains(r.stderr, "start failed") || strings.Contains(r.stderr, "level=ERROR")) {
			t.Errorf("call on a busy port prints library errors:\n%s", r.stderr)
		}
		if verbose && !strings.Contains(r.stderr, "level=DEBUG") {
			t.Errorf("call -v logs no debug detail:\n%s", r.stderr)
		}
	}
}

// runProcess runs peercall as its own process (the test binary, see
// TestMain) on home with args, and returns what it printed.
func runProcess(t *testing.T, hm *home.Home, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"--home", hm.Dir()}, args...)...)
	cmd.Env = append(os.Environ(), "PEERCALL_TEST_MAIN=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run peercall %v: %v", args, err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}
