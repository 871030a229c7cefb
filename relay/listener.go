package relay

import (
	"errors"
	"net"
	"sync"
)

// trackingListener remembers the connections it accepted and closes them
// when it is closed: pion/turn's Server.Close closes listeners but leaves
// accepted TCP/TLS connections (and their goroutines) to the clients, and a
// stopping super-node must not leave them behind.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newTrackingListener(l net.Listener) *trackingListener {
	return &trackingListener{Listener: l, conns: map[net.Conn]struct{}{}}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *trackingListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = map[net.Conn]struct{}{}
	l.mu.Unlock()
	for c := range conns {
		c.(*trackedConn).Conn.Close()
	}
	return err
}

type trackedConn struct {
	net.Conn
	l *trackingListener
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// handoff is a listener handed to the relay (Options.TURNListeners,
// TURNTLSListeners). Its accept loop (pump) runs from New to Close and
// passes each connection to the run's chanListener, or closes it while the
// relay is stopped: pion/turn closes its listeners at every Stop, and a
// handed listener must outlive a demotion.
type handoff struct {
	ln  net.Listener
	tls bool
	cur *chanListener // this run's listener, nil while stopped (guarded by Relay.mu)
}

func (r *Relay) pump(h *handoff) {
	defer r.pumps.Done()
	for {
		c, err := h.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				r.log.Info("relay: shared TURN listener stopped", "addr", h.ln.Addr(), "err", err)
			}
			return
		}
		r.mu.Lock()
		cur := h.cur
		r.mu.Unlock()
		if cur == nil || !cur.deliver(c) {
			_ = c.Close()
		}
	}
}

// chanListenerBacklog is how many handed connections wait for pion's
// Accept; more are closed (pion accepts at once, so only a flood fills it).
const chanListenerBacklog = 64

// chanListener is a net.Listener fed by a pump, for one run of the server.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	mu     sync.Mutex
	closed bool
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn, chanListenerBacklog), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	select {
	case l.ch <- c:
		return true
	default:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close ends Accept and closes the connections still waiting.
func (l *chanListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	close(l.done)
	for {
		select {
		case c := <-l.ch:
			_ = c.Close()
		default:
			return nil
		}
	}
}

func (l *chanListener) Addr() net.Addr { return l.addr }
