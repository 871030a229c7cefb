package chat

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/events"
)

// The kill tests run one side of a conversation in a child process (this
// test binary again) and kill it with SIGKILL during a burst.
const (
	envChild = "PEERCALL_CHAT_TEST_CHILD" // sender|receiver
	envArgs  = "PEERCALL_CHAT_TEST_ARGS"  // dir seed|own seed|name|peer name|peer addr|db|count
)

func TestMain(m *testing.M) {
	if role := os.Getenv(envChild); role != "" {
		os.Exit(child(role, strings.Split(os.Getenv(envArgs), "|")))
	}
	os.Exit(m.Run())
}

func seedKey(s string) ed25519.PrivateKey {
	b, _ := hex.DecodeString(s)
	return ed25519.NewKeyFromSeed(b)
}

// side is one end of a kill test's conversation.
type side struct {
	svc  *Service
	done func()
}

// startSide runs a service for name with key on db; resolve says where
// the other side is now.
func startSide(tb testing.TB, dir, key ed25519.PrivateKey, name, db string, resolve func() peer.AddrInfo, publish func(Event)) (*side, string) {
	h := newHost(tb, key)
	st, err := OpenStore(context.Background(), db)
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := Open(context.Background(), Config{
		Store: st, Host: h, Self: name,
		Certificate: certFunc(dir, name, key), Verify: verifyFunc(dir.Public().(ed25519.PublicKey)),
		Resolve: func(ctx context.Context, _ string) (peer.ID, error) {
			info := resolve()
			return info.ID, h.Connect(ctx, info)
		},
		Publish: func(k events.Kind, d any) {
			if e, ok := d.(Event); ok && publish != nil {
				publish(e)
			}
		},
		Retry: 100 * time.Millisecond, Rate: 10_000, Burst: 10_000, Rule: Rule{Enabled: true},
	})
	if err != nil {
		tb.Fatal(err)
	}
	addr := fmt.Sprintf("%s/p2p/%s", h.Addrs()[0], h.ID())
	return &side{svc: svc, done: func() { svc.Close(); h.Close() }}, addr
}

// child is the child process: it prints "ready ADDR", then as sender sends
// msg-K..msg-(count-1) (K: what its store already has), prints "done" once
// all are delivered and exits; as receiver it serves until stdin closes.
func child(role string, a []string) int {
	tb := childTB{}
	dir, key, name, peerName, peerAddr, db := seedKey(a[0]), seedKey(a[1]), a[2], a[3], a[4], a[5]
	var count int
	fmt.Sscan(a[6], &count)
	info, err := peer.AddrInfoFromP2pAddr(ma.StringCast(peerAddr))
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	s, addr := startSide(tb, dir, key, name, db, func() peer.AddrInfo { return *info }, nil)
	fmt.Println("ready", addr)
	ctx := context.Background()
	if role == "receiver" {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		go func() { _, _ = bufio.NewReader(os.Stdin).ReadString('\n'); sig <- syscall.SIGTERM }()
		<-sig
		s.done()
		return 0
	}
	have, err := s.svc.History(ctx, Query{Peer: peerName, Limit: 10_000})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	for i := len(have); i < count; i++ {
		if _, _, err := s.svc.Send(ctx, peerName, fmt.Sprintf("msg-%04d", i)); err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println("queued", i)
	}
	for {
		q, _ := s.svc.Store().outgoing(ctx, peerName, 1)
		if len(q) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("done")
	s.done()
	return 0
}

type childTB struct{ testing.TB }

func (childTB) Fatal(a ...any) { fmt.Println("error", fmt.Sprint(a...)); os.Exit(1) }
func (childTB) Fatalf(f string, a ...any) {
	fmt.Println("error", fmt.Sprintf(f, a...))
	os.Exit(1)
}
func (childTB) Helper() {}

// proc is a running child.
type proc struct {
	cmd   *exec.Cmd
	lines chan string
	stdin interface{ Close() error }
}

func startChild(t *testing.T, role string, args []string) (*proc, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+role, envArgs+"="+strings.Join(args, "|"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 10_000), stdin: in}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for line := range p.lines {
		if addr, ok := strings.CutPrefix(line, "ready "); ok {
			return p, addr
		}
		if strings.HasPrefix(line, "error") {
			t.Fatalf("child %s: %s", role, line)
		}
	}
	t.Fatalf("child %s ended before it was ready", role)
	return nil, ""
}

func (p *proc) kill(t *testing.T) {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

// burst is the burst's size: 1,000 under PEERCALL_LONG=1 (`make long`),
// 200 otherwise.
func burst() int {
	if os.Getenv("PEERCALL_LONG") != "" {
		return 1000
	}
	return 200
}

// checkBurst checks that the conversation in db holds msg-0000.. once
// each, in order, with sequence numbers 1..count.
func checkBurst(t *testing.T, db, peer, dir string, count int) {
	t.Helper()
	st, err := OpenStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ms, err := st.History(context.Background(), Query{Peer: peer, Limit: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != count {
		t.Fatalf("%s holds %d messages, want %d", db, len(ms), count)
	}
	for i, m := range ms {
		if m.Dir != dir || m.Seq != uint64(i+1) || m.Text != fmt.Sprintf("msg-%04d", i) {
			t.Fatalf("%s: message %d is %+v", db, i, m)
		}
		if dir == Out && m.State != StateDelivered {
			t.Fatalf("%s: message %d is %s, want delivered", db, i, m.State)
		}
	}
}

type keys struct {
	dir, alice, bob       ed25519.PrivateKey
	dirSeed, aSeed, bSeed string
	aliceDB, bobDB        string
}

func newKeys(t *testing.T) keys {
	seed := func() (ed25519.PrivateKey, string) {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return ed25519.NewKeyFromSeed(b), hex.EncodeToString(b)
	}
	var k keys
	k.dir, k.dirSeed = seed()
	k.alice, k.aSeed = seed()
	k.bob, k.bSeed = seed()
	d := t.TempDir()
	k.aliceDB, k.bobDB = filepath.Join(d, "alice.db"), filepath.Join(d, "bob.db")
	return k
}

// TestKillSender: alice (a child) sends a burst to bob; she is killed
// with SIGKILL part-way and started again on the same store: bob ends with
// every message once, in order, and alice with all of them delivered.
func TestKillSender(t *testing.T) {
	k, count := newKeys(t), burst()
	var mu sync.Mutex
	aliceAddr := ""
	resolve := func() peer.AddrInfo {
		mu.Lock()
		defer mu.Unlock()
		info, err := peer.AddrInfoFromP2pAddr(ma.StringCast(aliceAddr))
		if err != nil {
			return peer.AddrInfo{}
		}
		return *info
	}
	var got atomic.Int64
	bob, bobAddr := startSide(t, k.dir, k.bob, "bob", k.bobDB, resolve, func(e Event) {
		if e.What == "message" {
			got.Add(1)
		}
	})
	args := []string{k.dirSeed, k.aSeed, "alice", "bob", bobAddr, k.aliceDB, fmt.Sprint(count)}
	p, addr := startChild(t, "sender", args)
	mu.Lock()
	aliceAddr = addr
	mu.Unlock()
	for deadline := time.Now().Add(60 * time.Second); got.Load() < int64(count)*3/10; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("bob got %d of the burst in 60 s", got.Load())
		}
	}
	p.kill(t)
	t.Logf("alice killed after bob got %d of %d", got.Load(), count)
	p, addr = startChild(t, "sender", args)
	mu.Lock()
	aliceAddr = addr
	mu.Unlock()
	waitLine(t, p, "done")
	bob.done()
	checkBurst(t, k.bobDB, "alice", In, count)
	checkBurst(t, k.aliceDB, "bob", Out, count)
}

// TestKillReceiver: alice sends a burst to bob (a child); he is killed
// with SIGKILL part-way and started again on the same store: he tells
// alice he is back, and ends with every message once, in order.
func TestKillReceiver(t *testing.T) {
	k, count := newKeys(t), burst()
	var mu sync.Mutex
	bobAddr := ""
	resolve := func() peer.AddrInfo {
		mu.Lock()
		defer mu.Unlock()
		info, err := peer.AddrInfoFromP2pAddr(ma.StringCast(bobAddr))
		if err != nil {
			return peer.AddrInfo{}
		}
		return *info
	}
	var delivered atomic.Int64
	alice, aliceAddr := startSide(t, k.dir, k.alice, "alice", k.aliceDB, resolve, func(e Event) {
		if e.What == StateDelivered {
			delivered.Add(1)
		}
	})
	args := []string{k.dirSeed, k.bSeed, "bob", "alice", aliceAddr, k.bobDB, fmt.Sprint(count)}
	p, addr := startChild(t, "receiver", args)
	mu.Lock()
	bobAddr = addr
	mu.Unlock()
	sent := make(chan error, 1)
	go func() {
		for i := range count {
			if _, _, err := alice.svc.Send(context.Background(), "bob", fmt.Sprintf("msg-%04d", i)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	for deadline := time.Now().Add(60 * time.Second); delivered.Load() < int64(count)*3/10; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("alice delivered %d of the burst in 60 s", delivered.Load())
		}
	}
	p.kill(t)
	t.Logf("bob killed after alice delivered %d of %d", delivered.Load(), count)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	t.Logf("burst queued; delivered %d", delivered.Load())
	p, addr = startChild(t, "receiver", args)
	t.Logf("bob restarted")
	mu.Lock()
	bobAddr = addr
	mu.Unlock()
	waitFor(t, "alice's outbox empty", func() bool {
		q, _ := alice.svc.Store().outgoing(context.Background(), "bob", 1)
		return len(q) == 0
	})
	_ = p.stdin.Close()
	_ = p.cmd.Wait()
	alice.done()
	checkBurst(t, k.bobDB, "alice", In, count)
	checkBurst(t, k.aliceDB, "bob", Out, count)
}

func waitLine(t *testing.T, p *proc, want string) {
	t.Helper()
	timeout := time.After(120 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("child ended before %q", want)
			}
			if strings.HasPrefix(line, "error") {
				t.Fatalf("child: %s", line)
			}
			if line == want {
				return
			}
		case <-timeout:
			t.Fatalf("no %q from the child in 120 s", want)
		}
	}
}
