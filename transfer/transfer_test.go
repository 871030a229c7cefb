package transfer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCertCheck stands in for the node's certificate check: the
// "certificate" is the username (the node test checks real ones).
func testCertCheck(_ string, cert []byte) (string, error) {
	if len(cert) == 0 || bytes.ContainsAny(cert, "\x00/") {
		return "", errors.New("bad certificate")
	}
	return string(cert), nil
}

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type peerEnv struct {
	t        *testing.T
	home     string
	recv     *Receiver
	addr     string
	received atomic.Int64 // bytes the receiver read off its sockets
	events   chan Event
	rules    Rules
	mu       sync.Mutex
}

// newPeer starts a receiver on a real TCP loopback listener.
func newPeer(t *testing.T, rules Rules, mod func(*ReceiverConfig)) *peerEnv {
	t.Helper()
	p := &peerEnv{t: t, home: t.TempDir(), events: make(chan Event, 4096), rules: rules}
	cfg := ReceiverConfig{
		Quarantine: filepath.Join(p.home, "quarantine"), Downloads: filepath.Join(p.home, "received"),
		Rules:    func() Rules { p.mu.Lock(); defer p.mu.Unlock(); return p.rules },
		Identify: testCertCheck,
		OnEvent: func(e Event) {
			select {
			case p.events <- e:
			default:
			}
		},
		IdleTimeout: 5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	var err error
	if p.recv, err = NewReceiver(cfg); err != nil {
		t.Fatal(err)
	}
	p.serve()
	return p
}

func (p *peerEnv) serve() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		p.t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = p.recv.Handle(ctx, "peer", countingConn{c, &p.received})
			}()
		}
	}()
	p.t.Cleanup(func() { cancel(); ln.Close(); wg.Wait() })
}

func (p *peerEnv) dial(ctx context.Context) (Stream, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", p.addr)
}

// lastEvent waits for an event in state.
func (p *peerEnv) waitEvent(state string) Event {
	p.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-p.events:
			if e.State == state {
				return e
			}
		case <-timeout:
			p.t.Fatalf("no %q event from the receiver", state)
			return Event{}
		}
	}
}

func defaultRules() Rules { return Effective(Settings{}, "config.toml", Settings{}, "policy.toml") }

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sendCfg(p *peerEnv, user string) SendConfig {
	return SendConfig{Dial: p.dial, Cert: []byte(user), Rules: defaultRules(), Attempts: 1, RetryWait: 10 * time.Millisecond}
}

func TestSendAndReceive(t *testing.T) {
	for _, size := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3<<20 + 17} {
		p := newPeer(t, defaultRules(), nil)
		data := randomBytes(t, size)
		path := writeFile(t, t.TempDir(), "notes.txt", data)
		rep, err := Send(context.Background(), sendCfg(p, "alice"), path)
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if rep.Result.Status != StatusReleased || rep.Result.Name != "notes.txt" || rep.Sent != int64(size) || rep.Resent != 0 {
			t.Fatalf("%d bytes: report %+v", size, rep)
		}
		got, err := os.ReadFile(filepath.Join(p.home, "received", "notes.txt"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: received %d bytes (%v), want the file", size, len(got), err)
		}
		if left, _ := os.ReadDir(filepath.Join(p.home, "quarantine")); len(left) != 0 {
			t.Fatalf("%d bytes: quarantine keeps %d entries after release", size, len(left))
		}
		if e := p.waitEvent("released"); e.Peer != "alice" || e.Bytes != int64(size) {
			t.Fatalf("released event %+v", e)
		}
	}
}

func TestSanitizeName(t *testing.T) {
	long := strings.Repeat("a", 4000) + ".pdf"
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{"report.pdf", "report.pdf", false},
		{"../../.bashrc", "bashrc", false},
		{"/etc/passwd", "passwd", false},
		{`C:\Windows\System32\evil.dll`, "evil.dll", false},
		{"a\x00b.txt", "a_b.txt", false},
		{"bell\x07\x1b[31m.txt", "bell__[31m.txt", false},
		{"CON", "_CON", false},
		{"nul.txt", "_nul.txt", false},
		{"LPT1.tar.gz", "_LPT1.tar.gz", false},
		{"photo.jpg\u202egnp.exe", "photo.jpg_gnp.exe", false},
		{"trailing. . ", "trailing", false},
		{"bad\xff\xfeutf8", "bad_utf8", false},
		{long, strings.Repeat("a", maxSafeName-4) + ".pdf", false},
		{"..", "", true},
		{"/", "", true},
		{"...///", "", true},
		{"\x00\x01", "", true},
	} {
		got, _, err := SanitizeName([]byte(tc.in))
		if tc.bad {
			if !errors.Is(err, ErrBadName) {
				t.Errorf("SanitizeName(%q) = %q, %v; want ErrBadName", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("SanitizeName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestHostileNames sends files under hostile names: each lands inside the
// downloads folder under its sanitised name, which both sides are told,
// and none overwrites a file there; a name with nothing usable is refused
// with the reason on both sides.
func TestHostileNames(t *testing.T) {
	p := newPeer(t, defaultRules(), nil)
	dl := filepath.Join(p.home, "received")
	for _, tc := range []struct{ name, want string }{
		{"../../.bashrc", "bashrc"},
		{"/etc/passwd", "passwd"},
		{"x\x00y\nz.txt", "x_y_z.txt"},
		{strings.Repeat("é", 2000) + ".txt", strings.Repeat("é", (maxSafeName-4)/2) + ".txt"},
		{strings.Repeat("a", 4000), strings.Repeat("a", maxSafeName)}, // 4,000 characters
		{"\x1b[31mred\x7f.txt", "_[31mred_.txt"},
		{"CON.txt", "_CON.txt"},
		{"bashrc", "bashrc (1)"}, // no hidden overwrite of the first one
	} {
		cfg := sendCfg(p, "mallory")
		cfg.Name = tc.name
		data := []byte("payload of " + tc.want)
		rep, err := Send(context.Background(), cfg, writeFile(t, t.TempDir(), "f", data))
		if err != nil {
			t.Fatalf("send as %q: %v", tc.name, err)
		}
		if rep.Result.Name != tc.want {
			t.Fatalf("sent as %q, released as %q, want %q", tc.name, rep.Result.Name, tc.want)
		}
		// The receiver's side says the same name (its user sees it).
		if e := p.waitEvent("released"); e.Name != tc.want {
			t.Fatalf("sent as %q: the receiver's event names %q, want %q", tc.name, e.Name, tc.want)
		}
		got, err := os.ReadFile(filepath.Join(dl, tc.want))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %q, %v", tc.want, got, err)
		}
	}
	// Nothing was written outside the home.
	entries, _ := os.ReadDir(p.home)
	for _, e := range entries {
		if e.Name() != "received" && e.Name() != "quarantine" {
			t.Fatalf("the home has %s besides the two folders", e.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(p.home, "received", "bashrc")); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(filepath.Join(dl, "bashrc"))
	if string(first) != "payload of bashrc" {
		t.Fatalf("the first bashrc was overwritten: %q", first)
	}
	// A name with nothing left is refused, with the reason, before any byte.
	cfg := sendCfg(p, "mallory")
	cfg.Name = "../.."
	_, err := Send(context.Background(), cfg, writeFile(t, t.TempDir(), "g", []byte("zzz")))
	var refused *RefusedError
	if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "nothing usable") {
		t.Fatalf("send as ../..: %v, want a refusal naming the name", err)
	}
	if e := p.waitEvent("refused"); e.Code != "name" || !strings.Contains(e.Reason, "nothing usable") {
		t.Fatalf("receiver's refusal of ../..: %+v, want code name and the reason", e)
	}
}

const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

func scanScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "scan.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestScan: a scan that finds EICAR, and one that hangs, keep the file in
// quarantine and tell both sides; a clean file passes the same scan.
func TestScan(t *testing.T) {
	finder := scanScript(t, `if grep -q 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE' "$1"; then echo "$1: Eicar-Test-Signature FOUND"; exit 1; fi; exit 0`)
	hang := scanScript(t, `sleep 60`)
	for _, tc := range []struct {
		name, scan, content string
		timeout             time.Duration
		released            bool
		reason              string
	}{
		{"clean", finder, "just text", 10 * time.Second, true, ""},
		{"eicar", finder, eicar, 10 * time.Second, false, "Eicar-Test-Signature FOUND"},
		{"hang", hang, "anything", time.Second, false, "did not finish within 1s"},
		{"missing scanner", "/nonexistent/scanner", "anything", time.Second, false, "could not run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules := Effective(Settings{}, "config.toml", Settings{ScanCommand: []string{tc.scan, "{}"}, ScanTimeout: tc.timeout}, "policy.toml")
			p := newPeer(t, rules, nil)
			path := writeFile(t, t.TempDir(), "test.txt", []byte(tc.content))
			rep, err := Send(context.Background(), sendCfg(p, "alice"), path)
			if tc.released {
				if err != nil || rep.Result.Status != StatusReleased {
					t.Fatalf("clean file: %v, %+v", err, rep.Result)
				}
				return
			}
			var refused *RefusedError
			if !errors.As(err, &refused) || !refused.Quarantined || !strings.Contains(refused.Reason, tc.reason) {
				t.Fatalf("sender got %v, want a quarantine naming %q", err, tc.reason)
			}
			e := p.waitEvent("quarantined")
			if !strings.Contains(e.Reason, tc.reason) {
				t.Fatalf("receiver event %+v, want reason %q", e, tc.reason)
			}
			if _, err := os.Stat(filepath.Join(p.home, "received", "test.txt")); !os.IsNotExist(err) {
				t.Fatalf("the file was released: %v", err)
			}
			parts, _ := filepath.Glob(filepath.Join(p.home, "quarantine", "*.part"))
			if len(parts) != 1 {
				t.Fatalf("quarantine holds %d files, want the one", len(parts))
			}
			// Sending it again is refused: it is kept.
			_, err = Send(context.Background(), sendCfg(p, "alice"), path)
			if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "kept in quarantine") {
				t.Fatalf("second send: %v", err)
			}
		})
	}
}

// TestPolicyRefusesBeforeAnyByte: rules the admin policy sets refuse the
// offer itself (the receiver reads the offer and nothing more), with the
// rule and its file in the reason; the sender's own rules stop a send
// before it dials.
func TestPolicyRefusesBeforeAnyByte(t *testing.T) {
	off, on := false, true
	for _, tc := range []struct {
		name        string
		user, admin Settings
		file        string
		size        int
		reason      string
		rule        string
	}{
		{"disabled by policy", Settings{Enabled: &on}, Settings{Enabled: &off}, "a.txt", 1 << 20, "transfer.enabled = false in policy.toml", "transfer.enabled"},
		{"too large", Settings{MaxFileSize: 10 << 20}, Settings{MaxFileSize: 1 << 20}, "a.txt", 1<<20 + 1, "over the limit of 1048576 (transfer.max_file_size in policy.toml)", "transfer.max_file_size"},
		{"user cannot raise", Settings{MaxFileSize: 1 << 40}, Settings{MaxFileSize: 1000}, "a.txt", 1001, "transfer.max_file_size in policy.toml", "transfer.max_file_size"},
		{"blocked extension", Settings{}, Settings{BlockedExtensions: []string{"exe"}}, "setup.EXE", 10, `blocked extension "exe"`, "transfer.blocked_extensions"},
		{"not allowed", Settings{}, Settings{AllowedExtensions: []string{"pdf", "txt"}}, "a.pdf.js", 10, `not among the allowed`, "transfer.allowed_extensions"},
		{"user allows more", Settings{AllowedExtensions: []string{"js", "txt"}}, Settings{AllowedExtensions: []string{"txt"}}, "a.js", 10, `not among the allowed ["txt"]`, "transfer.allowed_extensions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t, Effective(tc.user, "config.toml", tc.admin, "policy.toml"), nil)
			cfg := sendCfg(p, "alice")
			cfg.Name = tc.file
			_, err := Send(context.Background(), cfg, writeFile(t, t.TempDir(), "f", randomBytes(t, tc.size)))
			var refused *RefusedError
			if !errors.As(err, &refused) || !strings.Contains(refused.Reason, tc.reason) {
				t.Fatalf("got %v, want a refusal naming %q", err, tc.reason)
			}
			if e := p.waitEvent("refused"); e.Code != tc.rule {
				t.Fatalf("refusal code %q, want %q", e.Code, tc.rule)
			}
			if n := p.received.Load(); n > 2+int64(len(Offer{Cert: []byte("alice"), Name: []byte(tc.file)}.Marshal())) {
				t.Fatalf("the receiver read %d bytes: more than the offer", n)
			}
			if parts, _ := filepath.Glob(filepath.Join(p.home, "quarantine", "*")); len(parts) != 0 {
				t.Fatalf("a refused offer left %v", parts)
			}
			// The same rules on the sender's side: nothing is dialled.
			cfg.Rules = Effective(tc.user, "config.toml", tc.admin, "policy.toml")
			dialled := false
			cfg.Dial = func(context.Context) (Stream, error) { dialled = true; return nil, errors.New("no") }
			_, err = Send(context.Background(), cfg, writeFile(t, t.TempDir(), "f", randomBytes(t, tc.size)))
			if !errors.Is(err, ErrRefused) || dialled || !strings.Contains(err.Error(), "nothing was sent") {
				t.Fatalf("sender's own rules: %v (dialled %v)", err, dialled)
			}
		})
	}
}

// TestBlockedSender: a blocked user's offer is refused.
func TestBlockedSender(t *testing.T) {
	p := newPeer(t, defaultRules(), func(c *ReceiverConfig) { c.Blocker = blockList{"mallory": true} })
	_, err := Send(context.Background(), sendCfg(p, "mallory"), writeFile(t, t.TempDir(), "f", []byte("x")))
	var refused *RefusedError
	if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "mallory is blocked") {
		t.Fatalf("got %v", err)
	}
	if _, err := Send(context.Background(), sendCfg(p, "alice"), writeFile(t, t.TempDir(), "f", []byte("x"))); err != nil {
		t.Fatalf("alice: %v", err)
	}
}

type blockList map[string]bool

func (b blockList) Blocked(u string) bool { return b[u] }

// TestAcceptHook: the recipient's decision is asked once per new
// transfer, and its refusal reaches the sender.
func TestAcceptHook(t *testing.T) {
	var asked atomic.Int32
	p := newPeer(t, defaultRules(), func(c *ReceiverConfig) {
		c.Accept = func(_ context.Context, in Incoming) error {
			asked.Add(1)
			if in.User != "alice" {
				return errors.New("the recipient declined")
			}
			return nil
		}
	})
	if _, err := Send(context.Background(), sendCfg(p, "bob"), writeFile(t, t.TempDir(), "f", []byte("x"))); err == nil || !strings.Contains(err.Error(), "the recipient declined") {
		t.Fatalf("bob: %v", err)
	}
	if _, err := Send(context.Background(), sendCfg(p, "alice"), writeFile(t, t.TempDir(), "f", []byte("x"))); err != nil {
		t.Fatalf("alice: %v", err)
	}
	if asked.Load() != 2 {
		t.Fatalf("asked %d times, want 2", asked.Load())
	}
}

// cutConn closes the connection once more than limit bytes were written.
type cutConn struct {
	net.Conn
	left *atomic.Int64
}

func (c cutConn) Write(p []byte) (int, error) {
	if c.left.Add(-int64(len(p))) < 0 {
		c.Conn.Close()
		return 0, errors.New("connection cut by the test")
	}
	return c.Conn.Write(p)
}

// TestResumeAfterCut: the connection dies at about half the file; the
// sender's next attempt resumes from what the receiver synced, and the
// bytes sent again are at most one sync interval.
func TestResumeAfterCut(t *testing.T) {
	const size, syncEvery = 4 << 20, 256 << 10
	p := newPeer(t, defaultRules(), func(c *ReceiverConfig) { c.SyncEvery = syncEvery })
	data := randomBytes(t, size)
	path := writeFile(t, t.TempDir(), "big.bin", data)
	var left atomic.Int64
	left.Store(size / 2)
	cut := true
	cfg := sendCfg(p, "alice")
	cfg.Attempts = 3
	cfg.Dial = func(ctx context.Context) (Stream, error) {
		c, err := p.dial(ctx)
		if err != nil || !cut {
			return c, err
		}
		cut = false
		return cutConn{c.(net.Conn), &left}, nil
	}
	rep, err := Send(context.Background(), cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	// The receiver synced what it had verified when the stream broke, and
	// the sender resumed exactly there; what was in flight is sent again.
	cutAt := p.waitEvent("interrupted")
	if rep.Attempts != 2 || rep.ResumedFrom != cutAt.Bytes || rep.ResumedFrom == 0 || rep.Resent != size/2/ChunkSize*ChunkSize-rep.ResumedFrom {
		t.Fatalf("report %+v, receiver cut at %d: want 2 attempts, resumed where the receiver was", rep, cutAt.Bytes)
	}
	if rep.Sent != size+rep.Resent {
		t.Fatalf("sent %d bytes for a file of %d with %d again", rep.Sent, size, rep.Resent)
	}
	got, _ := os.ReadFile(filepath.Join(p.home, "received", "big.bin"))
	if !bytes.Equal(got, data) {
		t.Fatal("the resumed file differs")
	}
	t.Logf("4 MiB cut at 2 MiB: resumed from %d, %d bytes sent again", rep.ResumedFrom, rep.Resent)
}

// TestResumeAfterReceiverRestart: a first send fails half-way; a new
// receiver on the same folders (the node restarted) and a new send (the
// sender restarted, its state in StateDir) finish it.
func TestResumeAfterReceiverRestart(t *testing.T) {
	const size = 3 << 20
	p := newPeer(t, defaultRules(), func(c *ReceiverConfig) { c.SyncEvery = 128 << 10 })
	data := randomBytes(t, size)
	path := writeFile(t, t.TempDir(), "big.bin", data)
	stateDir := t.TempDir()
	var left atomic.Int64
	left.Store(size / 2)
	cfg := sendCfg(p, "alice")
	cfg.StateDir = stateDir
	cfg.Dial = func(ctx context.Context) (Stream, error) {
		c, err := p.dial(ctx)
		if err != nil {
			return nil, err
		}
		return cutConn{c.(net.Conn), &left}, nil
	}
	if _, err := Send(context.Background(), cfg, path); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("first send: %v, want interrupted", err)
	}
	cutAt := p.waitEvent("interrupted")
	p2 := newPeer(t, defaultRules(), func(c *ReceiverConfig) {
		c.Quarantine, c.Downloads = filepath.Join(p.home, "quarantine"), filepath.Join(p.home, "received")
	})
	cfg2 := sendCfg(p2, "alice")
	cfg2.StateDir = stateDir
	rep, err := Send(context.Background(), cfg2, path)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ResumedFrom != cutAt.Bytes || rep.ResumedFrom == 0 || rep.Sent != size-rep.ResumedFrom || rep.Resent != size/2/ChunkSize*ChunkSize-rep.ResumedFrom {
		t.Fatalf("report %+v, the first receiver had %d", rep, cutAt.Bytes)
	}
	got, _ := os.ReadFile(filepath.Join(p.home, "received", "big.bin"))
	if !bytes.Equal(got, data) {
		t.Fatal("the resumed file differs")
	}
}

// flipConn flips one byte of the data once, after skip bytes written.
type flipConn struct {
	net.Conn
	skip *atomic.Int64
}

func (c flipConn) Write(p []byte) (int, error) {
	if left := c.skip.Add(-int64(len(p))); left < 0 && left+int64(len(p)) >= 0 {
		q := append([]byte(nil), p...)
		q[len(q)-1] ^= 0xff // the chunk's last data byte
		return c.Conn.Write(q)
	}
	return c.Conn.Write(p)
}

// TestCorruptChunk: a chunk that fails its hash ends the stream; the next
// attempt resumes before it and the file arrives whole.
func TestCorruptChunk(t *testing.T) {
	p := newPeer(t, defaultRules(), nil)
	data := randomBytes(t, 1<<20)
	var skip atomic.Int64
	skip.Store(300 << 10)
	cfg := sendCfg(p, "alice")
	cfg.Attempts = 2
	first := true
	cfg.Dial = func(ctx context.Context) (Stream, error) {
		c, err := p.dial(ctx)
		if err != nil || !first {
			return c, err
		}
		first = false
		return flipConn{c.(net.Conn), &skip}, nil
	}
	rep, err := Send(context.Background(), cfg, writeFile(t, t.TempDir(), "f.bin", data))
	if err != nil || rep.Attempts != 2 {
		t.Fatalf("%v, %+v", err, rep)
	}
	if e := p.waitEvent("interrupted"); !strings.Contains(e.Reason, "fails its SHA-256") {
		t.Fatalf("receiver: %+v", e)
	}
	got, _ := os.ReadFile(filepath.Join(p.home, "received", "f.bin"))
	if !bytes.Equal(got, data) {
		t.Fatal("the file differs")
	}
}

// TestWrongFileHash: chunks that match their hashes but not the sender's
// whole-file hash are deleted, and the sender is told.
func TestWrongFileHash(t *testing.T) {
	p := newPeer(t, defaultRules(), nil)
	c, err := p.dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := []byte("some data")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(writeMsg(c, Offer{Size: uint64(len(data)), Cert: []byte("alice"), Name: []byte("x.txt")}.Marshal()))
	m, err := readMsg(c)
	if err != nil || m.Accept == nil || m.Accept.Offset != 0 {
		t.Fatalf("%+v, %v", m, err)
	}
	must(writeMsg(c, Chunk{SHA256: sha256.Sum256(data), Data: data}.Marshal()))
	must(writeMsg(c, Done{SHA256: sha256.Sum256([]byte("other"))}.Marshal()))
	m, err = readMsg(c)
	if err != nil || m.Result == nil || m.Result.Status != StatusFailed || !strings.Contains(m.Result.Reason, "does not match") {
		t.Fatalf("%+v, %v", m.Result, err)
	}
	if left, _ := os.ReadDir(filepath.Join(p.home, "quarantine")); len(left) != 0 {
		t.Fatalf("%d files left in quarantine", len(left))
	}
	if left, _ := os.ReadDir(filepath.Join(p.home, "received")); len(left) != 0 {
		t.Fatalf("%d files released", len(left))
	}
}
