//go:build linux

package relay

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peercall/peercall/internal/pionlog"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	"golang.org/x/net/ipv4"
)

// The load generator of BenchmarkRelayedCalls, made cheap so that the
// figure is the server's: every endpoint (one TURN client, one allocation)
// has its own source address in 127.64.0.0/10 on a few shared UDP sockets
// (the address is chosen per datagram with IP_PKTINFO), so that a
// millisecond's packets of all the endpoints on a socket leave in one
// sendmmsg and arrive in a few recvmmsg. pion/turn's client makes the
// allocations, permissions and channel binds; the media are ChannelData
// the generator frames itself on the channel pion bound (seen in its
// writes). Sockets are bound to the wildcard address to receive for every
// endpoint address; every datagram is sent to 127.0.0.1.

const (
	genSockets   = 2
	genBatch     = 64
	genPayload   = 80 // 20 ms of Opus
	genHeader    = 4  // ChannelData
	phaseWarm    = 0
	phaseMeasure = 1
)

// genEndpoint is one side of a call.
type genEndpoint struct {
	idx     int
	ip      netip.Addr
	sock    *genSocket
	oob     []byte // IP_PKTINFO choosing ip as the source
	client  *turn.Client
	relay   net.PacketConn
	channel atomic.Uint32 // the ChannelData number pion bound, 0 until then
	conn    *genConn

	// written by the socket's reader only, read after it stops
	received int
	delays   []time.Duration
}

// genSocket is a shared UDP socket and its reader.
type genSocket struct {
	conn   *net.UDPConn
	pc     *ipv4.PacketConn
	server *net.UDPAddr
	base   time.Time
	byIP   sync.Map // netip.Addr -> *genEndpoint
	done   chan struct{}
	reads  atomic.Int64 // recvmmsg calls
}

func newGenSocket(server *net.UDPAddr, base time.Time) (*genSocket, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	pc := ipv4.NewPacketConn(conn)
	if err := pc.SetControlMessage(ipv4.FlagDst, true); err != nil {
		conn.Close()
		return nil, fmt.Errorf("IP_PKTINFO: %w", err)
	}
	s := &genSocket{conn: conn, pc: pc, server: server, base: base, done: make(chan struct{})}
	go s.read()
	return s, nil
}

func (s *genSocket) read() {
	defer close(s.done)
	msgs := make([]ipv4.Message, genBatch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 1600)}
		msgs[i].OOB = make([]byte, 128)
	}
	var cm ipv4.ControlMessage
	for {
		n, err := s.pc.ReadBatch(msgs, 0)
		if err != nil {
			return
		}
		s.reads.Add(1)
		now := time.Since(s.base)
		for _, m := range msgs[:n] {
			p := m.Buffers[0][:m.N]
			if len(p) >= genHeader+13 && p[0] >= 0x40 && p[0] <= 0x4f {
				data := p[genHeader:]
				if data[12] != phaseMeasure {
					continue
				}
				v, ok := s.byIP.Load(netip.AddrFrom4([4]byte(data[8:12])))
				if !ok {
					continue
				}
				e := v.(*genEndpoint)
				e.received++
				e.delays = append(e.delays, now-time.Duration(binary.BigEndian.Uint64(data)))
				continue
			}
			if !stun.IsMessage(p) || cm.Parse(m.OOB[:m.NN]) != nil {
				continue
			}
			dst, _ := netip.AddrFromSlice(cm.Dst.To4())
			if v, ok := s.byIP.Load(dst); ok {
				v.(*genEndpoint).client.HandleInbound(p, m.Addr) //nolint:errcheck // the client's business
			}
		}
	}
}

// genConn is an endpoint's view of its socket, given to pion's client: it
// sends from the endpoint's address and notes the channel pion binds.
type genConn struct {
	e      *genEndpoint
	closed chan struct{}
	once   sync.Once
}

func (c *genConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if len(p) >= genHeader && p[0] >= 0x40 && p[0] <= 0x4f {
		c.e.channel.Store(uint32(binary.BigEndian.Uint16(p)))
	}
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	return c.e.sock.pc.WriteTo(p, &ipv4.ControlMessage{Src: c.e.ip.AsSlice()}, addr)
}

func (c *genConn) ReadFrom([]byte) (int, net.Addr, error) {
	<-c.closed // pion's client is fed through HandleInbound
	return 0, nil, net.ErrClosed
}

func (c *genConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *genConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: c.e.ip.AsSlice(), Port: c.e.sock.conn.LocalAddr().(*net.UDPAddr).Port}
}
func (c *genConn) SetDeadline(time.Time) error      { return nil }
func (c *genConn) SetReadDeadline(time.Time) error  { return nil }
func (c *genConn) SetWriteDeadline(time.Time) error { return nil }

// genEndpointIP is endpoint i's source address.
func genEndpointIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 64 + byte(i>>16&0x3f), byte(i >> 8), byte(i)})
}

func newGenEndpoint(ctx context.Context, srv benchTURN, s *genSocket, idx int) (*genEndpoint, error) {
	e := &genEndpoint{idx: idx, ip: genEndpointIP(idx + 1), sock: s}
	e.oob = (&ipv4.ControlMessage{Src: e.ip.AsSlice()}).Marshal()
	e.conn = &genConn{e: e, closed: make(chan struct{})}
	u, p := srv.creds(fmt.Sprintf("user%d", idx))
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: srv.addr, Conn: e.conn, Username: u, Password: p,
		Realm: DefaultRealm, LoggerFactory: pionlog.New(quietLogger(), pionlog.Server),
	})
	if err != nil {
		return nil, err
	}
	e.client = client
	s.byIP.Store(e.ip, e)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if e.relay, err = client.AllocateWithContext(ctx); err != nil {
		e.close()
		return nil, fmt.Errorf("allocate for endpoint %d: %w", idx, err)
	}
	return e, nil
}

func (e *genEndpoint) close() {
	if e.relay != nil {
		e.relay.Close()
	}
	e.conn.Close()
	e.client.Close()
}

// genStream is one direction of a call.
type genStream struct {
	from, to *genEndpoint
	slot     int // which millisecond of the 20 ms period it sends in
	buf      []byte
	sent     int
}

// sendMeasured sends every stream's packets, 50 a second each, for d: one
// goroutine per socket wakes every millisecond and sends what came due in
// one sendmmsg.
func sendMeasured(socks []*genSocket, streams []*genStream, base time.Time, d time.Duration) (sent, failed int, elapsed time.Duration, err error) {
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, s := range socks {
		var mine [20][]*genStream
		for _, st := range streams {
			if st.from.sock == s {
				mine[st.slot] = append(mine[st.slot], st)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs := make([]ipv4.Message, 0, 256)
			next, nFailed := 0, 0
			var lastErr error
			for {
				now := time.Since(start)
				if now >= d {
					break
				}
				due := int(now / time.Millisecond)
				msgs = msgs[:0]
				ts := uint64(time.Since(base))
				for ; next <= due; next++ {
					for _, st := range mine[next%20] {
						binary.BigEndian.PutUint64(st.buf[genHeader:], ts)
						msgs = append(msgs, ipv4.Message{Buffers: [][]byte{st.buf}, OOB: st.from.oob, Addr: s.server})
						st.sent++
					}
				}
				for len(msgs) > 0 {
					n, err := s.pc.WriteBatch(msgs, 0)
					if err != nil {
						nFailed += len(msgs)
						lastErr = err
						break
					}
					msgs = msgs[n:]
				}
				time.Sleep(time.Millisecond - time.Since(start)%time.Millisecond)
			}
			mu.Lock()
			failed += nFailed
			if lastErr != nil {
				err = lastErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, st := range streams {
		sent += st.sent
	}
	return sent - failed, failed, time.Since(start), err
}

// prepareStreams warms every stream up through pion's client (permission,
// channel bind) until pion sends ChannelData on it, then frames the
// measured packets on that channel.
func prepareStreams(eps []*genEndpoint) ([]*genStream, error) {
	var streams []*genStream
	for i := 0; i+1 < len(eps); i += 2 {
		a, c := eps[i], eps[i+1]
		streams = append(streams,
			&genStream{from: a, to: c, slot: i % 20}, &genStream{from: c, to: a, slot: (i + 1) % 20})
	}
	warm := make([]byte, genPayload)
	warm[12] = phaseWarm
	deadline := time.Now().Add(30 * time.Second)
	for round := 0; ; round++ {
		missing := 0
		for _, st := range streams {
			if st.from.channel.Load() == 0 {
				missing++
				st.from.relay.WriteTo(warm, st.to.relay.LocalAddr()) //nolint:errcheck // warm-up
			}
		}
		if missing == 0 && round >= 3 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d streams have no channel bound after 30 s", missing, len(streams))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, st := range streams {
		st.buf = make([]byte, genHeader+genPayload)
		binary.BigEndian.PutUint16(st.buf, uint16(st.from.channel.Load())) //nolint:gosec // a channel number
		binary.BigEndian.PutUint16(st.buf[2:], genPayload)
		data := st.buf[genHeader:]
		ip := st.to.ip.As4()
		copy(data[8:12], ip[:])
		data[12] = phaseMeasure
	}
	return streams, nil
}

// allocateEndpoints makes n endpoints over socks, 16 allocations at a time.
func allocateEndpoints(ctx context.Context, srv benchTURN, socks []*genSocket, n int) ([]*genEndpoint, error) {
	eps := make([]*genEndpoint, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	var mu sync.Mutex
	var errs []error
	for i := range eps {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			e, err := newGenEndpoint(ctx, srv, socks[i%len(socks)], i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			eps[i] = e
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		for _, e := range eps {
			if e != nil {
				e.close()
			}
		}
		return nil, fmt.Errorf("%d of %d allocations failed, first: %w", len(errs), n, errors.Join(errs[0]))
	}
	return eps, nil
}
