package fastpath

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
)

// Leg is one allocation's relay socket as the fast path uses it: the relay's
// metering and peer filter, and the socket.
type Leg interface {
	// Allow charges n bytes relayed by this allocation, and by to as well
	// when the packet is handed to that allocation in process (to is nil
	// otherwise), in one charge of the budget; it reports whether they fit
	// (a refused packet is counted by the leg).
	Allow(n int, to Leg) bool
	// Forbidden reports (and counts) a peer this allocation may not send to.
	Forbidden(peer netip.AddrPort) bool
	// WriteToPeer sends p from the relay socket to peer, unmetered.
	WriteToPeer(p []byte, peer netip.AddrPort) error
}

// ChannelData framing (RFC 8656 section 12.4).
const (
	headerSize = 4
	minChannel = 0x4000
	maxChannel = 0x4FFF
)

type alloc struct {
	client, relayed netip.AddrPort
	leg             Leg
	nums            map[uint16]netip.AddrPort // channel number -> peer
}

type chanKey struct {
	client netip.AddrPort
	num    uint16
}

// chanEntry is a client's channel: its allocation, the peer, and when the
// peer is another allocation of this table with a channel bound back to
// this one, that allocation and its channel number (kept up to date by
// link as channels and allocations come and go).
type chanEntry struct {
	a     *alloc
	peer  netip.AddrPort
	to    *alloc
	toNum uint16
}

type peerKey struct{ relayed, peer netip.AddrPort }

// Table mirrors pion/turn's UDP allocations and their channels (from its
// OnAllocationCreated and OnChannelCreated/Deleted events and the relay
// socket's close). Its methods are safe for concurrent use.
type Table struct {
	mu        sync.RWMutex
	byClient  map[netip.AddrPort]*alloc
	byRelayed map[netip.AddrPort]*alloc
	chans     map[chanKey]*chanEntry
	peers     map[peerKey]uint16
	out       *net.UDPConn // a TURN socket, to send to clients from
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{
		byClient:  map[netip.AddrPort]*alloc{},
		byRelayed: map[netip.AddrPort]*alloc{},
		chans:     map[chanKey]*chanEntry{},
		peers:     map[peerKey]uint16{},
	}
}

// AddrPort converts a UDP address (false for any other kind).
func AddrPort(a net.Addr) (netip.AddrPort, bool) {
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
}

// AddAlloc records the allocation of client, relayed at relayed.
func (t *Table) AddAlloc(client, relayed netip.AddrPort, leg Leg) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.byClient[client]; old != nil {
		t.removeLocked(old)
	}
	if old := t.byRelayed[relayed]; old != nil {
		t.removeLocked(old)
	}
	a := &alloc{client: client, relayed: relayed, leg: leg, nums: map[uint16]netip.AddrPort{}}
	t.byClient[client] = a
	t.byRelayed[relayed] = a
}

// RemoveAlloc forgets leg's allocation and its channels.
func (t *Table) RemoveAlloc(leg Leg) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range t.byRelayed {
		if a.leg == leg {
			t.removeLocked(a)
			return
		}
	}
}

func (t *Table) removeLocked(a *alloc) {
	for num, peer := range a.nums {
		delete(t.chans, chanKey{a.client, num})
		delete(t.peers, peerKey{a.relayed, peer})
		t.linkBack(a, peer)
	}
	if t.byClient[a.client] == a {
		delete(t.byClient, a.client)
	}
	if t.byRelayed[a.relayed] == a {
		delete(t.byRelayed, a.relayed)
	}
}

// AddChannel records channel num of client's allocation, bound to peer.
func (t *Table) AddChannel(client netip.AddrPort, num uint16, peer netip.AddrPort) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.byClient[client]
	if a == nil {
		return
	}
	if old, ok := a.nums[num]; ok {
		delete(t.peers, peerKey{a.relayed, old})
		t.linkBack(a, old)
	}
	a.nums[num] = peer
	e := &chanEntry{a: a, peer: peer}
	t.chans[chanKey{client, num}] = e
	t.peers[peerKey{a.relayed, peer}] = num
	t.link(e)
	t.linkBack(a, peer)
}

// link sets e's hand-off: the allocation at its peer address, when that
// one has a channel bound to e's allocation.
func (t *Table) link(e *chanEntry) {
	e.to, e.toNum = nil, 0
	if b := t.byRelayed[e.peer]; b != nil && b != e.a {
		if n, ok := t.peers[peerKey{b.relayed, e.a.relayed}]; ok {
			e.to, e.toNum = b, n
		}
	}
}

// linkBack relinks the channel that the allocation at peer has bound to
// a, after a's channel to peer changed.
func (t *Table) linkBack(a *alloc, peer netip.AddrPort) {
	b := t.byRelayed[peer]
	if b == nil {
		return
	}
	if n, ok := t.peers[peerKey{b.relayed, a.relayed}]; ok {
		if e := t.chans[chanKey{b.client, n}]; e != nil {
			t.link(e)
		}
	}
}

// RemoveChannel forgets channel num of client's allocation.
func (t *Table) RemoveChannel(client netip.AddrPort, num uint16) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.byClient[client]
	if a == nil {
		return
	}
	if peer, ok := a.nums[num]; ok {
		delete(a.nums, num)
		delete(t.chans, chanKey{client, num})
		delete(t.peers, peerKey{a.relayed, peer})
		t.linkBack(a, peer)
	}
}

// Len is how many allocations and channels the table holds.
func (t *Table) Len() (allocs, channels int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.byClient), len(t.chans)
}

// Wrap returns conn, a TURN UDP socket, with the fast path in its ReadFrom.
// The first wrapped socket also sends FromPeer's packets.
func (t *Table) Wrap(conn *net.UDPConn) *Conn {
	t.mu.Lock()
	if t.out == nil {
		t.out = conn
	}
	t.mu.Unlock()
	return &Conn{UDPConn: conn, t: t, b: newBatch(conn)}
}

// Conn is a TURN UDP socket whose ReadFrom relays the ChannelData of known
// channels itself and returns every other datagram (STUN, unknown
// channels) to its caller, pion/turn's read loop. One goroutine reads it.
// On Linux it reads up to a batch of datagrams per system call and sends
// the packets handed in process of one read in one system call.
type Conn struct {
	*net.UDPConn
	t    *Table
	b    *batch // nil: one datagram per system call
	wbuf [headerSize + 1600 + 3]byte
}

// ReadFrom returns the next datagram the fast path does not relay itself.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	if c.b != nil {
		return c.readBatch(p)
	}
	for {
		n, from, err := c.UDPConn.ReadFromUDPAddrPort(p)
		if err != nil {
			return n, nil, err
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if !c.relay(p[:n], from) {
			return n, net.UDPAddrFromAddrPort(from), nil
		}
	}
}

func (c *Conn) readBatch(p []byte) (int, net.Addr, error) {
	b := c.b
	for {
		for b.next < b.n {
			pkt, from := b.datagram(b.next)
			b.next++
			if !from.IsValid() || c.relayInPlace(pkt, from) {
				continue
			}
			if err := b.flush(); err != nil {
				return 0, nil, err
			}
			return copy(p, pkt), net.UDPAddrFromAddrPort(from), nil
		}
		if err := b.flush(); err != nil {
			return 0, nil, err
		}
		if err := b.read(); err != nil {
			return 0, nil, err
		}
	}
}

// route is where a client's ChannelData goes: its channel's entry, and
// the allocation it is handed to in process with that allocation's
// channel number for the sender (to is nil when the peer is outside). ok
// is false for anything but the ChannelData of a known channel.
func (t *Table) route(pkt []byte, from netip.AddrPort) (e chanEntry, to *alloc, toNum uint16, data []byte, ok bool) {
	num, data, ok := ParseChannelData(pkt)
	if !ok {
		return e, nil, 0, nil, false
	}
	t.mu.RLock()
	p := t.chans[chanKey{from, num}]
	if p != nil {
		e = *p
	}
	t.mu.RUnlock()
	if p == nil {
		return e, nil, 0, nil, false
	}
	return e, e.to, e.toNum, data, true
}

// ParseChannelData splits a ChannelData message (RFC 8656 section 12.4):
// its channel number (0x4000-0x4FFF) and data; ok is false for anything
// else (a STUN message, a number out of range, a length past the end).
// Bytes after the data (padding) are ignored.
func ParseChannelData(pkt []byte) (num uint16, data []byte, ok bool) {
	if len(pkt) < headerSize {
		return 0, nil, false
	}
	num = binary.BigEndian.Uint16(pkt)
	l := int(binary.BigEndian.Uint16(pkt[2:]))
	if num < minChannel || num > maxChannel || headerSize+l > len(pkt) {
		return 0, nil, false
	}
	return num, pkt[headerSize : headerSize+l], true
}

// relay handles a client's ChannelData; false: not one of a known channel.
func (c *Conn) relay(pkt []byte, from netip.AddrPort) bool {
	e, to, toNum, data, ok := c.t.route(pkt, from)
	if !ok {
		return false
	}
	if to == nil {
		c.toPeer(e, data)
		return true
	}
	if e.a.leg.Allow(len(data), to.leg) {
		out := frame(c.wbuf[:0], toNum, data)
		_, _ = c.UDPConn.WriteToUDPAddrPort(out, to.client)
	}
	return true
}

// relayInPlace is relay for a datagram of the batch: a handed packet is
// rewritten in its buffer (which has room for the padding past len(pkt))
// and queued for the batch's send.
func (c *Conn) relayInPlace(pkt []byte, from netip.AddrPort) bool {
	e, to, toNum, data, ok := c.t.route(pkt, from)
	if !ok {
		return false
	}
	if to == nil {
		c.toPeer(e, data)
		return true
	}
	if e.a.leg.Allow(len(data), to.leg) {
		binary.BigEndian.PutUint16(pkt, toNum)
		out := pkt[:headerSize+len(data)]
		for len(out)%4 != 0 {
			out = append(out, 0) // within the buffer's capacity
		}
		c.b.queue(out, to.client)
	}
	return true
}

func (c *Conn) toPeer(e chanEntry, data []byte) {
	if !e.a.leg.Forbidden(e.peer) && e.a.leg.Allow(len(data), nil) {
		_ = e.a.leg.WriteToPeer(data, e.peer) // a send error is the peer's loss, as over the kernel
	}
}

// FromPeer relays data that relayed's socket received from peer to its
// client as ChannelData when a channel is bound to peer, in p: data is
// p[headerSize:], and p has room for the padding. It reports whether it
// did (false: pion/turn sends a Data indication or drops it).
func (t *Table) FromPeer(relayed, peer netip.AddrPort, p []byte, n int) bool {
	t.mu.RLock()
	num, ok := t.peers[peerKey{relayed, peer}]
	a := t.byRelayed[relayed]
	out := t.out
	t.mu.RUnlock()
	if !ok || a == nil || out == nil {
		return false
	}
	binary.BigEndian.PutUint16(p, num)
	binary.BigEndian.PutUint16(p[2:], uint16(n)) //nolint:gosec // n <= len(p)
	end := headerSize + n
	for end%4 != 0 {
		p[end] = 0
		end++
	}
	_, _ = out.WriteToUDPAddrPort(p[:end], a.client)
	return true
}

// HeaderRoom is the room FromPeer needs before and after the data.
const HeaderRoom = headerSize + 3

// frame appends the ChannelData message of data on channel num to b,
// padded to 4 bytes as pion/turn sends it.
func frame(b []byte, num uint16, data []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, num)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data))) //nolint:gosec // len(data) < 64 KiB
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
