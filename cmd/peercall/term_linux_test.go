//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a real pseudo-terminal pair: the test types on master, the
// code under test reads slave as its stdin.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		// The one missing-facility case: a container without devpts.
		t.Skipf("no pseudo-terminal to test the password prompt on: /dev/ptmx cannot be opened (%v); mount devpts to run this test", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatalf("unlock pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatalf("pseudo-terminal number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatalf("open /dev/pts/%d after /dev/ptmx opened: %v", n, err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func echoOff(slave *os.File) bool {
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	return err == nil && tio.Lflag&unix.ECHO == 0
}

func TestPasswordPromptOnTerminal(t *testing.T) {
	tests := []struct {
		name    string
		typed   []string // one line per prompt
		want    string
		wantErr string
	}{
		{name: "typed twice", typed: []string{"s3cret-pass", "s3cret-pass"}, want: "s3cret-pass"},
		{name: "mismatch", typed: []string{"s3cret-pass", "other-pass"}, wantErr: "differ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			master, slave := openPTY(t)
			var stderr syncBuffer
			e := newEnv(slave, io.Discard, &stderr)
			type res struct {
				pw  string
				err error
			}
			done := make(chan res, 1)
			go func() {
				pw, err := e.readPassword(false, "carol", true)
				done <- res{pw, err}
			}()
			prompts := []string{"Password for carol: ", "Repeat the password: "}
			for i, line := range tt.typed {
				waitFor(t, "prompt "+prompts[i], func() bool { return strings.Contains(stderr.String(), prompts[i]) })
				waitFor(t, "echo to be switched off", func() bool { return echoOff(slave) })
				if _, err := master.Write([]byte(line + "\n")); err != nil {
					t.Fatal(err)
				}
			}
			var r res
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("readPassword did not return")
			}
			if tt.wantErr != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", r.err, tt.wantErr)
				}
			} else if r.err != nil || r.pw != tt.want {
				t.Fatalf("readPassword = %q, %v; want %q", r.pw, r.err, tt.want)
			}
			if echoOff(slave) {
				t.Error("echo is still off after the prompt")
			}
			// With echo back on, a marker line is echoed to the screen;
			// nothing typed before it may have been.
			if _, err := master.Write([]byte("marker\n")); err != nil {
				t.Fatal(err)
			}
			var screen []byte
			buf := make([]byte, 256)
			for !bytes.Contains(screen, []byte("marker")) {
				n, err := master.Read(buf)
				if err != nil {
					t.Fatalf("read the terminal: %v", err)
				}
				screen = append(screen, buf[:n]...)
			}
			for _, line := range tt.typed {
				if bytes.Contains(screen, []byte(line)) {
					t.Errorf("the terminal echoed the password: %q", screen)
				}
			}
		})
	}
}
