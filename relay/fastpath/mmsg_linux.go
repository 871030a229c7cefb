//go:build linux

package fastpath

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSize is how many datagrams one recvmmsg reads and one sendmmsg
// sends at most: a millisecond of a thousand calls' packets on one socket.
const batchSize = 64

// bufSize is a batch buffer: pion/turn's own read buffer (1600) and the
// padding of a ChannelData rewritten in place.
const bufSize = 1600 + 4

// batch reads a UDP socket with recvmmsg and sends the handed packets of
// one read with sendmmsg, without allocating: the datagrams stay in its
// buffers, and a handed packet is rewritten in place (another channel
// number, the same data) and sent from there before the next read.
type batch struct {
	rc    syscall.RawConn
	v6    bool // an AF_INET6 socket (dual-stack when bound to the wildcard)
	hdrs  [batchSize]unix.Mmsghdr
	iovs  [batchSize]unix.Iovec
	names [batchSize]unix.RawSockaddrInet6
	bufs  [batchSize][]byte
	n     int // datagrams of the last read
	next  int // the next one to hand out

	out   [batchSize]unix.Mmsghdr
	oiovs [batchSize]unix.Iovec
	onams [batchSize]unix.RawSockaddrInet6
	on    int
}

func newBatch(c *net.UDPConn) *batch {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	domain := 0
	if rc.Control(func(fd uintptr) { domain, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN) }) != nil || err != nil {
		return nil
	}
	b := &batch{rc: rc, v6: domain == unix.AF_INET6}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, bufSize)
	}
	return b
}

// read waits for at least one datagram and reads up to batchSize.
func (b *batch) read() error {
	for i := range b.hdrs {
		b.iovs[i] = unix.Iovec{Base: &b.bufs[i][0]}
		b.iovs[i].SetLen(len(b.bufs[i]) - 4) // room to pad in place
		b.hdrs[i] = unix.Mmsghdr{}
		b.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
	}
	var n int
	var errno syscall.Errno
	err := b.rc.Read(func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), batchSize, 0, 0, 0)
		if e == unix.EAGAIN || e == unix.EINTR {
			return false
		}
		n, errno = int(r), e
		return true
	})
	if err != nil {
		return err
	}
	if errno != 0 {
		return &net.OpError{Op: "recvmmsg", Net: "udp", Err: errno}
	}
	b.n, b.next = n, 0
	return nil
}

// datagram is the i-th datagram of the last read and its source.
func (b *batch) datagram(i int) ([]byte, netip.AddrPort) {
	return b.bufs[i][:b.hdrs[i].Len], sockaddrAddrPort(&b.names[i])
}

func sockaddrAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	p := (*[unix.SizeofSockaddrInet6]byte)(unsafe.Pointer(sa))
	port := binary.BigEndian.Uint16(p[2:4])
	switch sa.Family {
	case unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[4:8])), port)
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

// queue adds datagram i, rewritten to p (a prefix of its buffer), to the
// sends of this read, to dst.
func (b *batch) queue(p []byte, dst netip.AddrPort) {
	k := b.on
	b.onams[k] = unix.RawSockaddrInet6{}
	raw := (*[unix.SizeofSockaddrInet6]byte)(unsafe.Pointer(&b.onams[k]))
	binary.BigEndian.PutUint16(raw[2:4], dst.Port())
	namelen := uint32(unix.SizeofSockaddrInet6)
	if a := dst.Addr(); a.Is4() && !b.v6 {
		b.onams[k].Family = unix.AF_INET
		a4 := a.As4()
		copy(raw[4:8], a4[:])
		namelen = unix.SizeofSockaddrInet4
	} else {
		b.onams[k].Family = unix.AF_INET6
		b.onams[k].Addr = a.As16() // IPv4 as ::ffff:a.b.c.d on a dual-stack socket
	}
	b.oiovs[k] = unix.Iovec{Base: &p[0]}
	b.oiovs[k].SetLen(len(p))
	b.out[k] = unix.Mmsghdr{}
	b.out[k].Hdr.Name = (*byte)(unsafe.Pointer(&b.onams[k]))
	b.out[k].Hdr.Namelen = namelen
	b.out[k].Hdr.Iov = &b.oiovs[k]
	b.out[k].Hdr.SetIovlen(1)
	b.on++
}

// flush sends the queued datagrams. One that fails (a peer's ICMP error,
// a full buffer past the wait) is dropped, as a lossy link would; the
// rest still go.
func (b *batch) flush() error {
	sent := 0
	for sent < b.on {
		var n int
		var errno syscall.Errno
		err := b.rc.Write(func(fd uintptr) bool {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.out[sent])), uintptr(b.on-sent), 0, 0, 0)
			if e == unix.EAGAIN || e == unix.EINTR {
				return false
			}
			n, errno = int(r), e
			return true
		})
		if err != nil {
			b.on = 0
			return err
		}
		if errno != 0 {
			n = 1 // the first one failed: skip it
		}
		sent += n
	}
	b.on = 0
	return nil
}
