package signalling

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// The lab connects Managers named "alice", "bob", "carol" by real streams:
// net.Pipe (usable inside a synctest bubble) or TCP on 127.0.0.1. The
// peer name the dialer announces stands in for libp2p's authenticated
// remote peer ID.

type transport string

const (
	pipeTransport transport = "pipe"
	tcpTransport  transport = "tcp"
)

type lab struct {
	t         testing.TB
	transport transport
	nodes     map[string]*Manager
	listeners map[string]net.Listener
	wg        sync.WaitGroup
	handled   chan handled // HandleStream results
	raw       chan *Conn   // streams dialed to rawPeer

	// trickle makes pipe streams ProtocolTrickle ones (trickle_test.go).
	trickle bool

	mu       sync.Mutex
	dialHook func(from, to string)  // runs before each dial, if set
	streams  map[string][]io.Closer // dialer-side streams by dialer name
}

type handled struct {
	callee, caller string
	err            error
}

func certFor(peer string) []byte { return []byte("cert:" + peer) }

// checkCert accepts a certificate that names the stream's remote peer.
func checkCert(remotePeer string, cert []byte) (string, error) {
	name, ok := strings.CutPrefix(string(cert), "cert:")
	if !ok {
		return "", errors.New("not a certificate")
	}
	if name != remotePeer {
		return "", fmt.Errorf("certificate names %s but the stream is from %s", name, remotePeer)
	}
	return "user-" + name, nil
}

func newLab(t testing.TB, tr transport, mod func(name string, c *Config)) *lab {
	l := &lab{
		t:         t,
		transport: tr,
		nodes:     map[string]*Manager{},
		listeners: map[string]net.Listener{},
		handled:   make(chan handled, 64),
		raw:       make(chan *Conn, 4),
		streams:   map[string][]io.Closer{},
	}
	logger := discardLogger()
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for _, name := range []string{"alice", "bob", "carol"} {
		cfg := Config{
			LocalPeer:        name,
			CertificateCheck: checkCert,
			Logger:           logger.With("node", name),
			Dial: func(ctx context.Context, peer string) (io.ReadWriteCloser, error) {
				return l.dial(ctx, name, peer)
			},
		}
		if mod != nil {
			mod(name, &cfg)
		}
		m, err := New(cfg)
		if err != nil {
			t.Fatalf("New(%s): %v", name, err)
		}
		l.nodes[name] = m
		if tr == tcpTransport {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatalf("listen: %v", err)
			}
			l.listeners[name] = ln
			l.wg.Add(1)
			go l.acceptLoop(name, ln)
		}
	}
	return l
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (l *lab) m(name string) *Manager { return l.nodes[name] }

func (l *lab) dial(ctx context.Context, from, to string) (io.ReadWriteCloser, error) {
	l.mu.Lock()
	hook := l.dialHook
	l.mu.Unlock()
	if hook != nil {
		hook(from, to)
	}
	var rw io.ReadWriteCloser
	if to == rawPeer { // the test itself answers, through l.raw
		a, b := net.Pipe()
		l.raw <- NewConn(b, 0)
		return a, nil
	}
	switch l.transport {
	case pipeTransport:
		var a, b io.ReadWriteCloser
		a, b = net.Pipe()
		if l.trickle {
			a, b = trickleStream{a.(net.Conn)}, trickleStream{b.(net.Conn)}
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			err := l.nodes[to].HandleStream(context.Background(), from, b)
			l.handled <- handled{to, from, err}
		}()
		rw = a
	case tcpTransport:
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", l.listeners[to].Addr().String())
		if err != nil {
			return nil, err
		}
		if _, err := fmt.Fprintf(conn, "%s\n", from); err != nil {
			conn.Close()
			return nil, err
		}
		rw = conn
	}
	l.mu.Lock()
	l.streams[from] = append(l.streams[from], rw)
	l.mu.Unlock()
	return rw, nil
}

func (l *lab) acceptLoop(name string, ln net.Listener) {
	defer l.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			// The dialer's name, read byte by byte so no frame byte is
			// buffered away from HandleStream.
			from, err := readLine(conn)
			if err != nil {
				conn.Close()
				return
			}
			err = l.nodes[name].HandleStream(context.Background(), from, conn)
			l.handled <- handled{name, from, err}
		}()
	}
}

func readLine(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(oneByteReader{r}, 16)
	s, err := br.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) { return o.r.Read(p[:1]) }

// lastStream returns the newest stream from dials by from.
func (l *lab) lastStream(from string) io.Closer {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.streams[from]
	if len(s) == 0 {
		l.t.Fatalf("%s has dialed no stream", from)
	}
	return s[len(s)-1]
}

func (l *lab) close() {
	for _, m := range l.nodes {
		if err := m.Close(); err != nil {
			l.t.Errorf("Close: %v", err)
		}
	}
	for _, ln := range l.listeners {
		ln.Close()
	}
	l.wg.Wait()
}

// call places a call from → to and returns both ends once it rings.
func (l *lab) call(from, to string) (caller, callee *Call) {
	l.t.Helper()
	caller, err := l.m(from).Call(context.Background(), to, Invite{Certificate: certFor(from), SDP: "offer-from-" + from, DisplayName: strings.ToUpper(from)})
	if err != nil {
		l.t.Fatalf("%s calls %s: %v", from, to, err)
	}
	callee = l.incoming(to)
	expectEvent(l.t, caller, EventRemoteRinging)
	return caller, callee
}

func (l *lab) incoming(name string) *Call {
	l.t.Helper()
	select {
	case c := <-l.m(name).Incoming():
		return c
	case <-time.After(10 * time.Second):
		l.t.Fatalf("%s: no incoming call", name)
		return nil
	}
}

// active places from → to and has the callee accept.
func (l *lab) active(from, to string) (caller, callee *Call) {
	l.t.Helper()
	caller, callee = l.call(from, to)
	if err := callee.Accept(context.Background(), "answer-from-"+to); err != nil {
		l.t.Fatalf("Accept: %v", err)
	}
	ev := expectEvent(l.t, caller, EventAccepted)
	if ev.SDP != "answer-from-"+to {
		l.t.Fatalf("caller got answer %q, want %q", ev.SDP, "answer-from-"+to)
	}
	return caller, callee
}

// nextEvent returns c's next event. Inside a synctest bubble the timeout
// is fake time.
func nextEvent(t testing.TB, c *Call) (Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		return ev, ok
	case <-time.After(time.Minute):
		t.Fatalf("call %v: no event within a minute (state %v)", c.ID(), c.State())
		return Event{}, false
	}
}

func expectEvent(t testing.TB, c *Call, kind EventKind) Event {
	t.Helper()
	ev, ok := nextEvent(t, c)
	if !ok || ev.Kind != kind {
		t.Fatalf("call %v (%s): got event %v (%v, open=%v), want %v", c.ID(), c.direction(), ev.Kind, ev.End, ok, kind)
	}
	return ev
}

// expectEnd waits for EventEnded with the given reason, then for Done.
func expectEnd(t testing.TB, c *Call, want EndReason) Event {
	t.Helper()
	ev := expectEvent(t, c, EventEnded)
	if ev.End != want {
		t.Fatalf("%s call ended %q (detail %q), want %q", c.direction(), ev.End, ev.Detail, want)
	}
	if _, ok := <-c.Events(); ok {
		t.Fatalf("event channel still open after EventEnded")
	}
	<-c.Done()
	if c.End() != want || c.State() != StateEnded {
		t.Fatalf("End() = %v, State() = %v; want %v, ended", c.End(), c.State(), want)
	}
	return ev
}

// rawPeer is a peer the test plays by hand with a bare Conn, to send what a
// correct Manager never would.
const rawPeer = "mallory"

// rawCall opens a stream from rawPeer to the named node, as its
// HandleStream sees it, and returns the raw side.
func (l *lab) rawCall(to string) *Conn {
	a, b := net.Pipe()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		err := l.nodes[to].HandleStream(context.Background(), rawPeer, b)
		l.handled <- handled{to, rawPeer, err}
	}()
	return NewConn(a, 0)
}

// handledFrom returns the result of the next HandleStream for a stream
// dialed by caller, skipping others.
func (l *lab) handledFrom(caller string) error {
	l.t.Helper()
	for {
		select {
		case h := <-l.handled:
			if h.caller == caller {
				return h.err
			}
		case <-time.After(time.Minute):
			l.t.Fatalf("no HandleStream result for a stream from %s", caller)
		}
	}
}

func send(t testing.TB, c *Conn, m Message) {
	t.Helper()
	if err := c.Send(context.Background(), m); err != nil {
		t.Fatalf("raw send %v: %v", m.Type, err)
	}
}

func receive(t testing.TB, c *Conn, want Type) Message {
	t.Helper()
	m, err := c.Receive(context.Background())
	if err != nil {
		t.Fatalf("raw receive, want %v: %v", want, err)
	}
	if m.Type != want {
		t.Fatalf("raw receive: got %v, want %v", m, want)
	}
	return m
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
