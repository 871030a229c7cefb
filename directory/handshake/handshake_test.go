package handshake

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// certificate is a self-signed ed25519 server certificate.
func certificate(t *testing.T) tls.Certificate {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"block", "block2", "a", "b", "c"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// server is a Listener on loopback whose handshakes for the server name
// "block" wait in GetCertificate until unblock is closed; it counts the
// handshakes in GetCertificate at once.
type server struct {
	*Listener
	reg            *prometheus.Registry
	unblock        chan struct{}
	unblock2       chan struct{} // for the server name "block2"
	inCert, peak   atomic.Int64
	accepted       chan net.Conn
	acceptersDone  sync.WaitGroup
	unblockOnce    sync.Once
	unblock2Once   sync.Once
	blockedArrived chan struct{}
	// resumedBeforeA receives, from the first handshake for "a" to reach
	// GetCertificate, the resumed handshakes counted then.
	resumedBeforeA chan float64
}

func newServer(t *testing.T, cfg Config) *server {
	t.Helper()
	cert := certificate(t)
	s := &server{reg: prometheus.NewRegistry(), unblock: make(chan struct{}), unblock2: make(chan struct{}), accepted: make(chan net.Conn, 64), blockedArrived: make(chan struct{}, 64), resumedBeforeA: make(chan float64, 1)}
	tc := &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		n := s.inCert.Add(1)
		defer s.inCert.Add(-1)
		for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
		}
		if h.ServerName == "a" {
			select {
			case s.resumedBeforeA <- s.count(ResultResumed):
			default:
			}
		}
		if h.ServerName == "block" {
			s.blockedArrived <- struct{}{}
			<-s.unblock
		}
		if h.ServerName == "block2" {
			s.blockedArrived <- struct{}{}
			<-s.unblock2
		}
		return &cert, nil
	}}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Registerer = s.reg
	s.Listener, err = New(inner, tc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.acceptersDone.Go(func() {
		for {
			c, err := s.Accept()
			if err != nil {
				return
			}
			// A byte after the handshake: the client reads it, and with
			// it the session ticket sent before it.
			c.Write([]byte{1})
			s.accepted <- c
		}
	})
	t.Cleanup(func() {
		s.release()
		s.Close()
		s.acceptersDone.Wait()
		close(s.accepted)
		for c := range s.accepted {
			c.Close()
		}
	})
	return s
}

func (s *server) release() {
	s.unblockOnce.Do(func() { close(s.unblock) })
	s.unblock2Once.Do(func() { close(s.unblock2) })
}

func (s *server) count(r string) float64 { return testutil.ToFloat64(s.results.WithLabelValues(r)) }

// waitStats waits until the listener holds running handshakes and waiting
// ones (bounded by the test's timeout).
func (s *server) waitStats(t *testing.T, running, waiting int) {
	t.Helper()
	for {
		r, w := s.Stats()
		if r == running && w == waiting {
			return
		}
		if r > running {
			t.Fatalf("%d handshakes run at once, the cap is %d", r, running)
		}
		time.Sleep(time.Millisecond)
	}
}

// dial runs a client handshake with server name name and reads the byte the
// server writes after it.
func dial(ctx context.Context, addr, name string, cache tls.ClientSessionCache) (*tls.Conn, error) {
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, ServerName: name, ClientSessionCache: cache, MinVersion: tls.VersionTLS13}}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := nc.(*tls.Conn)
	if _, err := c.Read(make([]byte, 1)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// TestCap: with a cap of 2 and six clients whose handshakes stall, two
// run and four wait; released, all six complete, and no more than two
// were ever in the handshake at once.
func TestCap(t *testing.T) {
	s := newServer(t, Config{MaxConcurrent: 2, MaxWait: time.Minute})
	errs := make(chan error, 6)
	for range 6 {
		go func() {
			c, err := dial(t.Context(), s.Addr().String(), "block", nil)
			if err == nil {
				c.Close()
			}
			errs <- err
		}()
	}
	s.waitStats(t, 2, 4)
	s.release()
	for range 6 {
		if err := <-errs; err != nil {
			t.Errorf("handshake: %v", err)
		}
	}
	if p := s.peak.Load(); p > 2 {
		t.Errorf("%d handshakes were in GetCertificate at once, the cap is 2", p)
	}
	if n := s.count(ResultFull); n != 6 {
		t.Errorf("%v full handshakes counted, want 6", n)
	}
}

// TestShed: with the one slot held, a newcomer waits MaxWait and is then
// closed without a handshake: its client sees an error, the listener
// counts it shed, and the held one still completes.
func TestShed(t *testing.T) {
	s := newServer(t, Config{MaxConcurrent: 1, MaxWait: 50 * time.Millisecond})
	held := make(chan error, 1)
	go func() {
		c, err := dial(t.Context(), s.Addr().String(), "block", nil)
		if err == nil {
			c.Close()
		}
		held <- err
	}()
	<-s.blockedArrived
	if c, err := dial(t.Context(), s.Addr().String(), "a", nil); err == nil {
		c.Close()
		t.Fatal("a handshake over the cap completed after its wait")
	}
	if n := s.count(ResultShed); n != 1 {
		t.Errorf("%v handshakes counted shed, want 1", n)
	}
	s.release()
	if err := <-held; err != nil {
		t.Errorf("the handshake holding the slot: %v", err)
	}
	if c, err := dial(t.Context(), s.Addr().String(), "a", nil); err != nil {
		t.Errorf("a handshake once the slot is free: %v", err)
	} else {
		c.Close()
	}
}

// TestResumptionsFirst: with one slot held, a full handshake waiting and
// then a client resuming a session waiting, the freed slot goes to the
// resumption: it is accepted before the full handshake that came first.
func TestResumptionsFirst(t *testing.T) {
	s := newServer(t, Config{MaxConcurrent: 1, MaxWait: time.Minute})
	addr := s.Addr().String()
	cache := tls.NewLRUClientSessionCache(4)
	c, err := dial(t.Context(), addr, "b", cache) // gets b a session ticket
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	(<-s.accepted).Close()

	type result struct {
		c   *tls.Conn
		err error
	}
	blocker, full, resumed := make(chan result, 1), make(chan result, 1), make(chan result, 1)
	run := func(name string, cache tls.ClientSessionCache, out chan result) {
		c, err := dial(t.Context(), addr, name, cache)
		out <- result{c, err}
	}
	// a's full handshake reaches GetCertificate only once it holds the
	// slot; b's count is taken before b gives the slot back.
	go run("block", nil, blocker)
	<-s.blockedArrived
	s.waitStats(t, 1, 0)
	go run("a", nil, full)
	s.waitStats(t, 1, 1)
	go run("b", cache, resumed)
	s.waitStats(t, 1, 2)
	s.release()
	for range 3 {
		(<-s.accepted).Close()
	}
	for _, ch := range []chan result{blocker, full, resumed} {
		r := <-ch
		if r.err != nil {
			t.Fatalf("handshake: %v", r.err)
		}
		r.c.Close()
	}
	if n := <-s.resumedBeforeA; n != 1 {
		t.Errorf("the full handshake a got the freed slot before the resumption b (%v resumed when a started); want resumptions first", n)
	}
	if n := s.count(ResultResumed); n != 1 {
		t.Errorf("%v resumed handshakes counted, want 1", n)
	}
}

// TestClose: Close ends the handshakes waiting and in progress, and
// Accept then fails with net.ErrClosed.
func TestClose(t *testing.T) {
	s := newServer(t, Config{MaxConcurrent: 1, MaxWait: time.Minute})
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			c, err := dial(t.Context(), s.Addr().String(), "block", nil)
			if err == nil {
				c.Close()
			}
			errs <- err
		}()
	}
	<-s.blockedArrived
	s.waitStats(t, 1, 1)
	done := make(chan error, 1)
	go func() { done <- s.Listener.Close() }()
	// The handshake in GetCertificate ends only when it returns.
	s.release()
	<-done
	if _, err := s.Accept(); err == nil {
		t.Error("Accept after Close succeeded")
	}
	for range 2 {
		<-errs // either outcome; they must end
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{MaxConcurrent: 0}, {MaxConcurrent: 1, MaxWait: -1}, {MaxConcurrent: 1, Timeout: -1}} {
		if c.Validate() == nil {
			t.Errorf("%+v validated", c)
		}
	}
	if _, err := New(nil, &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return nil, nil }}, Config{MaxConcurrent: 1}); err == nil {
		t.Error("New took a configuration with its own GetConfigForClient")
	}
	if _, err := New(nil, &tls.Config{}, Config{MaxConcurrent: 1}); err == nil {
		t.Error("New took a configuration without a certificate (its full handshakes would have none to offer)")
	}
}

// TestEstablishedFirst: a session begun before the surge (b) is resumed
// before one begun during it (c), though c waited longer: with the one
// slot held, c waits (the surge begins) and then gets it and its session;
// with the slot held again, c and then b come to resume, and the freed
// slot goes to b.
func TestEstablishedFirst(t *testing.T) {
	grants := make(chan int, 16)
	s := newServer(t, Config{MaxConcurrent: 1, MaxWait: time.Minute, onGrant: func(class int) { grants <- class }})
	addr := s.Addr().String()
	cacheB, cacheC := tls.NewLRUClientSessionCache(4), tls.NewLRUClientSessionCache(4)
	type result struct {
		c   *tls.Conn
		err error
	}
	run := func(name string, cache tls.ClientSessionCache, out chan result) {
		c, err := dial(t.Context(), addr, name, cache)
		out <- result{c, err}
	}
	finish := func(chs ...chan result) {
		t.Helper()
		for _, ch := range chs {
			r := <-ch
			if r.err != nil {
				t.Fatalf("handshake: %v", r.err)
			}
			r.c.Close()
			(<-s.accepted).Close()
		}
	}
	b0 := make(chan result, 1)
	run("b", cacheB, b0) // before any surge
	finish(b0)
	<-grants

	blocker, c0 := make(chan result, 1), make(chan result, 1)
	go run("block", nil, blocker)
	<-s.blockedArrived
	<-grants
	go run("c", cacheC, c0) // waits: the surge begins
	s.waitStats(t, 1, 1)
	s.unblockOnce.Do(func() { close(s.unblock) })
	finish(blocker, c0)
	if g := <-grants; g != classFull {
		t.Fatalf("c's first handshake had class %d, want full (%d)", g, classFull)
	}

	blocker2, c1, b1 := make(chan result, 1), make(chan result, 1), make(chan result, 1)
	go run("block2", nil, blocker2)
	<-s.blockedArrived
	<-grants
	go run("c", cacheC, c1)
	s.waitStats(t, 1, 1)
	go run("b", cacheB, b1)
	s.waitStats(t, 1, 2)
	s.unblock2Once.Do(func() { close(s.unblock2) })
	first, second := <-grants, <-grants
	if first != classEstablished || second != classResumed {
		t.Errorf("after the slot was freed, classes %d then %d were served; want the session begun before the surge (%d) before the one begun in it (%d)",
			first, second, classEstablished, classResumed)
	}
	finish(blocker2, b1, c1)
	if n := s.count(ResultResumed); n != 2 {
		t.Errorf("%v resumed handshakes counted, want 2", n)
	}
}
