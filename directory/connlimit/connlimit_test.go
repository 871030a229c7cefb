package connlimit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is an HTTP server on a limited loopback listener. GET /hold
// blocks until release is closed; everything else answers "ok".
type server struct {
	l       *Listener
	addr    string
	reg     *prometheus.Registry
	release chan struct{}
}

func serve(t *testing.T, cfg Config) *server {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{reg: prometheus.NewRegistry(), release: make(chan struct{}), addr: inner.Addr().String()}
	cfg.Registerer = s.reg
	s.l, err = New(inner, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/hold" {
				<-s.release
			}
			io.WriteString(w, "ok")
		}),
		ConnState:   s.l.ConnState,
		IdleTimeout: time.Minute,
	}
	done := make(chan struct{})
	go func() { defer close(done); hs.Serve(s.l) }()
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		hs.Close()
		<-done
	})
	return s
}

// client is one raw keep-alive HTTP/1.1 connection from a loopback address.
type client struct {
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, from, to string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", to)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{c: c, r: bufio.NewReader(c)}
}

// get sends GET path and reads the answer; false when the server closed
// the connection instead.
func (c *client) get(path string) bool {
	c.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c.c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return false
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return err == nil && string(b) == "ok"
}

// closedByServer reports whether the server has closed the connection.
func (c *client) closedByServer() bool {
	c.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.r.ReadByte()
	return err != nil && !errors.Is(err, errTimeout(err))
}

func errTimeout(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return nil
}

// waitIdle waits until every connection held is idle.
func waitIdle(t *testing.T, l *Listener) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if open, idle := l.Stats(); open == idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the connections did not become idle")
		}
		time.Sleep(time.Millisecond)
	}
}

// waitStats waits until the listener holds want connections.
func waitStats(t *testing.T, l *Listener, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		open, _ := l.Stats()
		if open == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the listener holds %d connections, want %d", open, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPerAddrCapRecyclesIdleConnections(t *testing.T) {
	s := serve(t, Config{MaxConns: 100, MaxConnsPerAddr: 5})
	var conns []*client
	for i := range 20 {
		c := dial(t, "127.0.0.2", s.addr)
		if !c.get("/") {
			t.Fatalf("request on connection %d from 127.0.0.2 failed", i)
		}
		conns = append(conns, c)
		waitIdle(t, s.l) // in order: the oldest idle one goes first
	}
	waitStats(t, s.l, 5)
	// The first 15 were closed to make room, the last 5 still answer.
	for i, c := range conns[:15] {
		if !c.closedByServer() {
			t.Errorf("connection %d of 20 from one address is still open past the cap of 5", i)
		}
	}
	for i, c := range conns[15:] {
		if !c.get("/") {
			t.Errorf("connection %d of the last 5 does not answer", 15+i)
		}
	}
	// Another address is not held back.
	if !dial(t, "127.0.0.1", s.addr).get("/") {
		t.Error("a request from another address failed")
	}
	if got := testutil.ToFloat64(s.l.closed.WithLabelValues(ClosedPerAddr)); got != 15 {
		t.Errorf("closed{%s} = %v, want 15", ClosedPerAddr, got)
	}
}

func TestPerAddrCapRefusesWhenNoneIdle(t *testing.T) {
	s := serve(t, Config{MaxConns: 100, MaxConnsPerAddr: 3})
	var held sync.WaitGroup
	for range 3 {
		c := dial(t, "127.0.0.2", s.addr)
		held.Go(func() { c.get("/hold") })
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if open, idle := s.l.Stats(); open == 3 && idle == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the three held requests did not become active")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if c := dial(t, "127.0.0.2", s.addr); c.get("/") || !c.closedByServer() {
		t.Error("a fourth connection from the address, none of its three idle, was answered")
	}
	if !dial(t, "127.0.0.3", s.addr).get("/") {
		t.Error("another address was refused")
	}
	close(s.release)
	held.Wait()
	if got := testutil.ToFloat64(s.l.refused.WithLabelValues(RefusedPerAddr)); got != 1 {
		t.Errorf("refused{%s} = %v, want 1", RefusedPerAddr, got)
	}
}

func TestTotalCapAndPressure(t *testing.T) {
	s := serve(t, Config{MaxConns: 10, MaxConnsPerAddr: 100, HighWater: 6, PressureIdle: 100 * time.Millisecond})
	// Ten idle connections from many addresses fill the listener.
	var old []*client
	for i := range 10 {
		c := dial(t, fmt.Sprintf("127.0.3.%d", i+1), s.addr)
		if !c.get("/") {
			t.Fatal("setup request failed")
		}
		old = append(old, c)
		waitIdle(t, s.l)
	}
	waitStats(t, s.l, 10)
	// At the cap, a newcomer takes the place of the longest idle one.
	if !dial(t, "127.0.0.1", s.addr).get("/") {
		t.Fatal("a newcomer at the total cap with idle connections was refused")
	}
	if !old[0].closedByServer() {
		t.Error("the longest idle connection was not the one closed")
	}
	// Past PressureIdle, above the high-water mark, idle ones are closed
	// down to the mark when the next connection arrives.
	time.Sleep(150 * time.Millisecond)
	if !dial(t, "127.0.0.1", s.addr).get("/") {
		t.Fatal("a newcomer under pressure failed")
	}
	open, _ := s.l.Stats()
	if open > 7 {
		t.Errorf("under pressure %d connections stay open, want the high-water mark 6 and the newcomer", open)
	}
	if got := testutil.ToFloat64(s.l.closed.WithLabelValues(ClosedPressure)); got < 4 {
		t.Errorf("closed{%s} = %v, want at least 4", ClosedPressure, got)
	}
	if got := testutil.ToFloat64(s.l.closed.WithLabelValues(ClosedTotal)); got != 1 {
		t.Errorf("closed{%s} = %v, want 1", ClosedTotal, got)
	}
}

func TestExemptAddressesAndAccounting(t *testing.T) {
	s := serve(t, Config{MaxConns: 50, MaxConnsPerAddr: 2, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.4/32")}})
	var conns []*client
	for range 10 {
		c := dial(t, "127.0.0.4", s.addr)
		if !c.get("/") {
			t.Fatal("a request from the exempt address failed")
		}
		conns = append(conns, c)
	}
	waitStats(t, s.l, 10)
	for _, c := range conns {
		c.c.Close()
	}
	waitStats(t, s.l, 0)
	if n := len(s.l.addrs); n != 0 {
		t.Errorf("after every connection closed %d addresses are still tracked", n)
	}
	m, err := testutil.GatherAndCount(s.reg, "peercall_directory_connections_open", "peercall_directory_connections_refused_total")
	if err != nil || m != 4 {
		t.Errorf("registered series: %d, %v; want the open gauge and three refusal reasons", m, err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg     Config
		mention string
	}{
		{Config{MaxConns: 0, MaxConnsPerAddr: 1}, "MaxConns"},
		{Config{MaxConns: 1, MaxConnsPerAddr: 0}, "MaxConnsPerAddr"},
		{Config{MaxConns: 10, MaxConnsPerAddr: 1, HighWater: 11}, "HighWater"},
		{Config{MaxConns: 10, MaxConnsPerAddr: 1, PressureIdle: -1}, "PressureIdle"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tc.cfg, err, tc.mention)
		}
	}
}

// TestRatePerAddr: an address opening connections in a loop is refused
// past its rate before any work is done on them; others are not.
func TestRatePerAddr(t *testing.T) {
	s := serve(t, Config{MaxConns: 100, MaxConnsPerAddr: 5, RatePerAddr: 2})
	answered := 0
	for range 20 {
		if dial(t, "127.0.0.2", s.addr).get("/") {
			answered++
		}
	}
	// A burst of 5 and 2 a second: the 20 dials take well under 3 s.
	if answered < 5 || answered > 10 {
		t.Errorf("%d of 20 connections opened in a loop were answered, want the burst of 5 and a few", answered)
	}
	// The rest were refused for the rate, or met the cap of 5: refused,
	// or let in in place of an earlier one that had not been served yet
	// (on a slow machine), which is then the one unanswered.
	rate, capped := testutil.ToFloat64(s.l.refused.WithLabelValues(RefusedRate)), testutil.ToFloat64(s.l.refused.WithLabelValues(RefusedPerAddr))
	evicted := testutil.ToFloat64(s.l.closed.WithLabelValues(ClosedPerAddr))
	if rate < 10 || rate+capped+evicted != float64(20-answered) {
		t.Errorf("refused{%s} = %v, {%s} = %v and evicted %v for %d unanswered, want those, mostly for the rate", RefusedRate, rate, RefusedPerAddr, capped, evicted, 20-answered)
	}
	if !dial(t, "127.0.0.3", s.addr).get("/") {
		t.Error("another address was held back by the first one's rate")
	}
}

// BenchmarkRefusedConnection: what a connection refused for its address's
// rate costs, dial to close, on loopback (the attacker's side included).
func BenchmarkRefusedConnection(b *testing.B) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	l, err := New(inner, Config{MaxConns: 1000, MaxConnsPerAddr: 1, RatePerAddr: 0.001})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // the one admitted
		}
	}()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	first, err := d.Dial("tcp", inner.Addr().String()) // spends the burst of 1
	if err != nil {
		b.Fatal(err)
	}
	defer first.Close()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if open, _ := l.Stats(); open == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	buf := make([]byte, 1)
	b.ResetTimer()
	for range b.N {
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		c.Read(buf) // returns when the listener closed it
		c.Close()
	}
	b.StopTimer()
	l.Close()
	<-done
	b.ReportMetric(testutil.ToFloat64(l.refused.WithLabelValues(RefusedRate))/float64(b.N), "refused/op")
}

// TestFreshConnectionsAreNotEvictedAtOnce: at the cap with only not yet
// used connections (a storm of clients still in their handshakes), a
// newcomer is refused instead of taking a half-made connection's place;
// an idle used connection is taken instead; and once the unused ones have
// been so for PressureIdle, the one quiet longest goes first again.
func TestFreshConnectionsAreNotEvictedAtOnce(t *testing.T) {
	const pressureIdle = 300 * time.Millisecond
	s := serve(t, Config{MaxConns: 4, MaxConnsPerAddr: 100, HighWater: 4, PressureIdle: pressureIdle})
	var fresh []*client
	for i := range 4 {
		fresh = append(fresh, dial(t, fmt.Sprintf("127.0.5.%d", i+1), s.addr)) // connected, nothing sent
	}
	waitStats(t, s.l, 4)
	if c := dial(t, "127.0.5.10", s.addr); c.get("/") {
		t.Fatal("a newcomer took the place of a connection not yet used and younger than PressureIdle")
	}
	if got := testutil.ToFloat64(s.l.refused.WithLabelValues(RefusedTotal)); got != 1 {
		t.Errorf("refused{%s} = %v, want 1", RefusedTotal, got)
	}
	// The half-made connections were kept: they still get answers.
	if !fresh[1].get("/") {
		t.Fatal("a connection not yet used was closed for a newcomer")
	}
	waitIdle(t, s.l)
	// fresh[1] is now idle after a request: the next newcomer takes its
	// place, though the other three are older.
	if !dial(t, "127.0.5.11", s.addr).get("/") {
		t.Fatal("a newcomer at the cap with an idle connection was refused")
	}
	if !fresh[1].closedByServer() {
		t.Error("the idle used connection was not the one closed")
	}
	waitIdle(t, s.l)
	// The newcomer's connection is idle now too; past PressureIdle the
	// oldest not yet used connection goes first (it was quiet longest).
	time.Sleep(pressureIdle + 50*time.Millisecond)
	if !dial(t, "127.0.5.12", s.addr).get("/") {
		t.Fatal("a newcomer was refused with connections unused for longer than PressureIdle")
	}
	if !fresh[0].closedByServer() {
		t.Error("the oldest unused connection past PressureIdle was not the one closed")
	}
}
