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

type chanEntry struct {
	a    *alloc
	peer netip.AddrPort
}

type peerKey struct{ relayed, peer netip.AddrPort }

// Table mirrors pion/turn's UDP allocations and their channels (from its
// OnAllocationCreated and OnChannelCreated/Deleted events and the relay
// socket's close). Its methods are safe for concurrent use.
type Table struct {
	mu        sync.RWMutex
	byClient  map[netip.AddrPort]*alloc
	byRelayed map[netip.AddrPort]*alloc
	chans     map[chanKey]chanEntry
	peers     map[peerKey]uint16
	out       *net.UDPConn // a TURN socket, to send to clients from
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{
		byClient:  map[netip.AddrPort]*alloc{},
		byRelayed: map[netip.AddrPort]*alloc{},
		chans:     map[chanKey]chanEntry{},
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
	}
	a.nums[num] = peer
	t.chans[chanKey{client, num}] = chanEntry{a: a, peer: peer}
	t.peers[peerKey{a.relayed, peer}] = num
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
	return &Conn{UDPConn: conn, t: t}
}

// Conn is a TURN UDP socket whose ReadFrom relays the ChannelData of known
// channels itself and returns every other datagram (STUN, unknown
// channels) to its caller, pion/turn's read loop. One goroutine reads it.
type Conn struct {
	*net.UDPConn
	t    *Table
	wbuf [headerSize + 1600 + 3]byte
}

// ReadFrom returns the next datagram the fast path does not relay itself.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
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

// relay handles a client's ChannelData; false: not one of a known channel.
func (c *Conn) relay(pkt []byte, from netip.AddrPort) bool {
	if len(pkt) < headerSize {
		return false
	}
	num := binary.BigEndian.Uint16(pkt)
	l := int(binary.BigEndian.Uint16(pkt[2:]))
	if num < minChannel || num > maxChannel || headerSize+l > len(pkt) {
		return false
	}
	data := pkt[headerSize : headerSize+l]
	t := c.t
	t.mu.RLock()
	e, ok := t.chans[chanKey{from, num}]
	var to *alloc
	var toNum uint16
	if ok {
		if b := t.byRelayed[e.peer]; b != nil {
			toNum, ok = t.peers[peerKey{b.relayed, e.a.relayed}]
			if ok {
				to = b
			}
			ok = true
		}
	}
	t.mu.RUnlock()
	if !ok {
		return false
	}
	if to == nil {
		if !e.a.leg.Forbidden(e.peer) && e.a.leg.Allow(len(data), nil) {
			_ = e.a.leg.WriteToPeer(data, e.peer) // a send error is the peer's loss, as over the kernel
		}
		return true
	}
	if e.a.leg.Allow(len(data), to.leg) {
		out := frame(c.wbuf[:0], toNum, data)
		_, _ = c.UDPConn.WriteToUDPAddrPort(out, to.client)
	}
	return true
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
