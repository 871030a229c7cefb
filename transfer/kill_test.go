package transfer

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The kill test runs a receiver or a sender in a child process (this test
// binary again) and kills it with SIGKILL half-way.
const (
	envReceiver = "PEERCALL_TRANSFER_TEST_RECEIVER" // home folder
	envSender   = "PEERCALL_TRANSFER_TEST_SENDER"   // addr|file|state dir
	envHalf     = "PEERCALL_TRANSFER_TEST_HALF"     // bytes after which the child stalls
)

func TestMain(m *testing.M) {
	if home := os.Getenv(envReceiver); home != "" {
		os.Exit(childReceiver(home))
	}
	if args := os.Getenv(envSender); args != "" {
		os.Exit(childSender(args))
	}
	os.Exit(m.Run())
}

func childReceiver(home string) int {
	r, err := NewReceiver(ReceiverConfig{Quarantine: filepath.Join(home, "quarantine"), Downloads: filepath.Join(home, "received"),
		Rules: defaultRules, Identify: testCertCheck, SyncEvery: 1 << 20})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println(ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		go func() { _ = r.Handle(context.Background(), "peer", stallConn(c)) }()
	}
}

func childSender(args string) int {
	parts := strings.Split(args, "|")
	cfg := SendConfig{Cert: []byte("alice"), Rules: defaultRules(), StateDir: parts[2], Attempts: 1,
		Dial: func(ctx context.Context) (Stream, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", parts[0])
			if err != nil {
				return nil, err
			}
			return stallConn(c), nil
		}}
	if _, err := Send(context.Background(), cfg, parts[1]); err != nil {
		fmt.Println("error", err)
		return 1
	}
	return 0
}

// child starts this test binary with env set and returns it and its
// stdout lines.
func child(t *testing.T, env string, half int) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env, envHalf+"="+strconv.Itoa(half))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

func startReceiver(t *testing.T, home string, half int) (*exec.Cmd, string, *bufio.Scanner) {
	cmd, lines := child(t, envReceiver+"="+home, half)
	if !lines.Scan() {
		t.Fatal("the receiver process printed no address")
	}
	return cmd, lines.Text(), lines
}

// waitHalf reads a child's lines until it says it is at half the file.
func waitHalf(t *testing.T, lines *bufio.Scanner) {
	var seen []string
	for lines.Scan() {
		if lines.Text() == "half" {
			return
		}
		seen = append(seen, lines.Text())
	}
	t.Fatalf("the child ended before half the file (it said %q, %v)", seen, lines.Err())
}

// waitSynced waits (at most 10 s) until a receiver's state records some
// synced bytes: a kill then tests the resume, not a slow first fsync.
func waitSynced(home string) {
	for i := 0; i < 200; i++ {
		states, _ := filepath.Glob(filepath.Join(home, "quarantine", "*.json"))
		for _, p := range states {
			var st recvState
			if data, err := os.ReadFile(p); err == nil && json.Unmarshal(data, &st) == nil && st.Offset > 0 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stalling is a child's connection that stops (and prints "half") after
// PEERCALL_TRANSFER_TEST_HALF bytes, read or written, until it is killed.
type stalling struct {
	net.Conn
	left int64
}

func stallConn(c net.Conn) net.Conn {
	n, _ := strconv.ParseInt(os.Getenv(envHalf), 10, 64)
	return &stalling{c, n}
}

func (s *stalling) count(n int) {
	if s.left -= int64(n); s.left < 0 {
		if home := os.Getenv(envReceiver); home != "" {
			waitSynced(home)
		}
		fmt.Println("half")
		time.Sleep(time.Minute)
	}
}

func (s *stalling) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	s.count(n)
	return n, err
}

func (s *stalling) Write(p []byte) (int, error) {
	s.count(len(p))
	return s.Conn.Write(p)
}

func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// bigFile writes size pseudo-random bytes (fast: a SHA-256 chain) and
// returns its path and hash.
func bigFile(t *testing.T, size int) (string, [32]byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	w := io.MultiWriter(f, h)
	block := make([]byte, 1<<20)
	seed := sha256.Sum256([]byte("seed"))
	for n := 0; n < size; n += len(block) {
		for i := 0; i < len(block); i += 32 {
			seed = sha256.Sum256(seed[:])
			copy(block[i:], seed[:])
		}
		if _, err := w.Write(block[:min(len(block), size-n)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return p, sum
}

func killSize() int {
	if os.Getenv("PEERCALL_LONG") == "1" {
		return 200 << 20
	}
	return 8 << 20
}

// TestKill9Resume: a transfer whose receiver, or sender, is killed with
// SIGKILL at about half the file resumes when it starts again; the file
// arrives whole and the bytes sent again are reported (8 MiB;
// PEERCALL_LONG=1: 200 MiB).
func TestKill9Resume(t *testing.T) {
	size := killSize()
	for _, victim := range []string{"receiver", "sender"} {
		t.Run(victim, func(t *testing.T) {
			home, stateDir := t.TempDir(), t.TempDir()
			path, sum := bigFile(t, size)
			half := size / 2
			if victim != "receiver" {
				half = 1 << 40
			}
			recv, addr, progress := startReceiver(t, home, half)
			cfg := SendConfig{Cert: []byte("alice"), Rules: defaultRules(), StateDir: stateDir, Attempts: 1,
				Dial: func(ctx context.Context) (Stream, error) { var d net.Dialer; return d.DialContext(ctx, "tcp", addr) }}
			if victim == "receiver" {
				sent := make(chan error, 1)
				go func() { _, err := Send(context.Background(), cfg, path); sent <- err }()
				waitHalf(t, progress)
				kill9(t, recv)
				if err := <-sent; err == nil {
					t.Fatal("the send survived the receiver's death")
				}
				_, addr, _ = startReceiver(t, home, 1<<40)
			} else {
				snd, lines := child(t, envSender+"="+addr+"|"+path+"|"+stateDir, size/2)
				waitHalf(t, lines)
				kill9(t, snd)
			}
			cfg.OnEvent = nil
			start := time.Now()
			rep, err := Send(context.Background(), cfg, path)
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if rep.ResumedFrom == 0 || rep.Sent != int64(size)-rep.ResumedFrom || rep.Result.Status != StatusReleased {
				t.Fatalf("report %+v", rep)
			}
			// The receiver died with bytes read but not synced (its stall
			// comes inside a read): the sender had sent past the resume
			// point and must report those bytes as sent again. (A killed
			// sender may have saved its progress before the receiver's last
			// sync, so it may rightly report none.)
			if victim == "receiver" && rep.Resent <= 0 {
				t.Errorf("resumed from %d after the receiver's kill, but %d bytes reported sent again", rep.ResumedFrom, rep.Resent)
			}
			got, err := os.ReadFile(filepath.Join(home, "received", "big.bin"))
			if err != nil || sha256.Sum256(got) != sum {
				t.Fatalf("the received file differs (%d bytes, %v)", len(got), err)
			}
			t.Logf("%d MiB, %s killed at about half: resumed from %d (%.0f %%), %d bytes sent again, rest in %v",
				size>>20, victim, rep.ResumedFrom, 100*float64(rep.ResumedFrom)/float64(size), rep.Resent, time.Since(start).Round(time.Millisecond))
		})
	}
}
