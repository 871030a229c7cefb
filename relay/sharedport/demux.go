package sharedport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// demuxPeek is how many first bytes the demultiplexer reads: enough for a
// STUN header's magic cookie (bytes 4-8), a TLS record type (byte 0) and
// multistream-select's "\x13/multistream" opening.
const demuxPeek = 8

// demuxPeekTimeout bounds the wait for a connection's first bytes.
const demuxPeekTimeout = 5 * time.Second

// demuxBacklog is how many routed connections wait for their Accept.
const demuxBacklog = 16

// maxPending bounds the connections being peeked at or waiting for a
// route's Accept at once: beyond it new connections are closed at once, so
// a flood of silent connections, or of connections to a route nobody
// accepts (TURN on a node that is not a super-node yet), costs a bounded
// number of goroutines and sockets. A routed connection not accepted
// within demuxPeekTimeout is closed.
const maxPending = 512

// stunMagicCookie is RFC 5389's magic cookie.
const stunMagicCookie = 0x2112A442

// IsTLS reports whether b opens a TLS handshake record (a ClientHello).
func IsTLS(b []byte) bool { return len(b) >= 1 && b[0] == 0x16 }

// IsSTUN reports whether b opens a STUN message (TURN over TCP): a first
// byte of 0x00 or 0x01 (every STUN and TURN message type is below 0x0200,
// which also keeps a TLS record, 0x16, apart) and the magic cookie at
// bytes 4-8.
func IsSTUN(b []byte) bool {
	return len(b) >= 8 && b[0] < 0x02 && binary.BigEndian.Uint32(b[4:8]) == stunMagicCookie
}

// IsMultistream reports whether b opens multistream-select (libp2p):
// a length byte 19 then "/multistream".
func IsMultistream(b []byte) bool {
	return bytes.HasPrefix(b, []byte("\x13/multis"))
}

// Demux shares one TCP listener (say port 443, the only one a restricted
// client reaches) between protocols told apart by their first bytes: each
// Route is a net.Listener that accepts the connections its match selects,
// the peeked bytes given back on the first reads. A connection no route
// matches, or that sends fewer than 8 bytes within 5 s, is closed.
//
// Close stops the accept loop and waits for it and every peek.
type Demux struct {
	ln  net.Listener
	log *slog.Logger

	mu     sync.Mutex
	routes []*demuxRoute
	closed bool
	wg     sync.WaitGroup
	done   chan struct{}
	slots  chan struct{} // one per pending connection (maxPending)
}

// NewDemux starts demultiplexing ln's connections; add routes before
// clients connect (a connection that arrives first is closed).
func NewDemux(ln net.Listener, log *slog.Logger) *Demux {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Demux{ln: ln, log: log, done: make(chan struct{}), slots: make(chan struct{}, maxPending)}
	d.wg.Add(1)
	go d.serve()
	return d
}

// Route returns a listener for the connections whose first 8 bytes match.
// Routes are tried in the order they were added.
func (d *Demux) Route(name string, match func(first []byte) bool) net.Listener {
	r := &demuxRoute{d: d, name: name, match: match, ch: make(chan net.Conn, demuxBacklog), closed: make(chan struct{})}
	d.mu.Lock()
	d.routes = append(d.routes, r)
	d.mu.Unlock()
	return r
}

// Addr is the shared listener's address.
func (d *Demux) Addr() net.Addr { return d.ln.Addr() }

// Close closes the shared listener and every route, and waits.
func (d *Demux) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	routes := d.routes
	d.mu.Unlock()
	close(d.done)
	err := d.ln.Close()
	d.wg.Wait()
	for _, r := range routes {
		_ = r.Close()
	}
	return err
}

func (d *Demux) serve() {
	defer d.wg.Done()
	for {
		c, err := d.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		select {
		case d.slots <- struct{}{}:
		default:
			d.log.Debug("demux: too many connections pending; closing", "remote", c.RemoteAddr())
			_ = c.Close()
			continue
		}
		d.wg.Add(1)
		go d.route(c)
	}
}

// route peeks at c and hands it to the first matching route.
func (d *Demux) route(c net.Conn) {
	defer d.wg.Done()
	defer func() { <-d.slots }()
	_ = c.SetReadDeadline(time.Now().Add(demuxPeekTimeout))
	first := make([]byte, demuxPeek)
	n, err := io.ReadFull(c, first)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		d.log.Debug("demux: no protocol opening", "remote", c.RemoteAddr(), "bytes", n, "err", err)
		_ = c.Close()
		return
	}
	d.mu.Lock()
	routes := d.routes
	d.mu.Unlock()
	for _, r := range routes {
		if !r.match(first) {
			continue
		}
		pc := &peekedConn{Conn: c, first: first}
		wait := time.NewTimer(demuxPeekTimeout)
		defer wait.Stop()
		select {
		case r.ch <- pc:
		case <-wait.C:
			d.log.Debug("demux: nobody accepted the connection", "route", r.name, "remote", c.RemoteAddr())
			_ = c.Close()
		case <-r.closed:
			_ = c.Close()
		case <-d.done:
			_ = c.Close()
		}
		return
	}
	d.log.Debug("demux: unknown protocol", "remote", c.RemoteAddr(), "first", first)
	_ = c.Close()
}

// demuxRoute is one protocol's listener.
type demuxRoute struct {
	d         *Demux
	name      string
	match     func([]byte) bool
	ch        chan net.Conn
	closeOnce sync.Once
	closed    chan struct{}
}

func (r *demuxRoute) Accept() (net.Conn, error) {
	select {
	case c := <-r.ch:
		return c, nil
	case <-r.closed:
		return nil, net.ErrClosed
	}
}

func (r *demuxRoute) Close() error {
	r.closeOnce.Do(func() { close(r.closed) })
	return nil
}

func (r *demuxRoute) Addr() net.Addr { return r.d.ln.Addr() }

// peekedConn gives back the peeked bytes before the rest of the stream.
type peekedConn struct {
	net.Conn
	mu    sync.Mutex
	first []byte
}

func (c *peekedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.first) > 0 {
		n := copy(p, c.first)
		c.first = c.first[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}
