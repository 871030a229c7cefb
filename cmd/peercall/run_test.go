package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

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
