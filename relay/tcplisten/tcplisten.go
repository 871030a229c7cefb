package tcplisten

import (
	"net"
	"sync"
)

// Tracking remembers the connections it accepted and closes them when it
// is closed: pion/turn's Server.Close closes listeners but leaves accepted
// TCP/TLS connections (and their goroutines) to the clients, and a
// stopping super-node must not leave them behind.
type Tracking struct {
	net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// NewTracking wraps l.
func NewTracking(l net.Listener) *Tracking {
	return &Tracking{Listener: l, conns: map[net.Conn]struct{}{}}
}

// Accept accepts and tracks a connection.
func (l *Tracking) Accept() (net.Conn, error) {
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

// Close closes the listener and every connection it accepted.
func (l *Tracking) Close() error {
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
	l *Tracking
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// ChanBacklog is how many handed connections wait for Accept; more are
// closed (pion accepts at once, so only a flood fills it).
const ChanBacklog = 64

// Chan is a net.Listener fed by Deliver, for one run of the server.
type Chan struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	mu     sync.Mutex
	closed bool
}

// NewChan returns a listener that says it listens at addr.
func NewChan(addr net.Addr) *Chan {
	return &Chan{addr: addr, ch: make(chan net.Conn, ChanBacklog), done: make(chan struct{})}
}

// Deliver queues c for Accept; false: closed or full (the caller closes c).
func (l *Chan) Deliver(c net.Conn) bool {
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

// Accept returns the next delivered connection.
func (l *Chan) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close ends Accept and closes the connections still waiting.
func (l *Chan) Close() error {
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

// Addr is the address given to NewChan.
func (l *Chan) Addr() net.Addr { return l.addr }
