package netlab

import (
	"container/heap"
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The impairment stage: this kernel has no sch_netem, so a shaped link is
// not a veth pair but two TAP devices, the machine's interface (eth0 or
// wan) in its namespace and its bridge port in the segment's, and the test
// process copies Ethernet frames between them, each way through a Shaper
// of the link's Profile: IPv4 frames are lost or held for their delay (so
// that frames overtake each other when the jitter exceeds their spacing);
// others (ARP) pass at once. iptables loss (Impair), tc rate limits and
// SetDown/SetUp work on a shaped link as on a veth one.

// stageQueue bounds the frames one direction of a stage holds; a frame
// beyond it is dropped (and counted), as a router's full buffer drops.
const stageQueue = 4096

// maxFrame is the largest Ethernet frame a TAP hands over (MTU 1500 and
// its header, with room to spare).
const maxFrame = 9216

// LinkStats counts what a shaped link's stage did in one direction.
type LinkStats struct {
	Frames   uint64 // frames that entered the stage
	Shaped   uint64 // IPv4 frames given to the Shaper
	Lost     uint64 // lost by the Shaper
	Overflow uint64 // dropped because the queue was full
}

// stage is one shaped link's forwarder; its two directions are "up" (out of
// the machine, toward the segment) and "down".
type stage struct {
	name       string
	host, port *os.File // the TAPs of the machine side and the bridge side
	cancel     context.CancelFunc
	wg         sync.WaitGroup

	mu    sync.Mutex
	stats [2]LinkStats // up, down
}

// LinkOption shapes a host's link (Lab.Host).
type LinkOption struct{ profile *Profile }

// Link makes the host's link (eth0) go through the impairment stage with
// profile p each way: a round trip between it and an unshaped machine
// gains 2*p.Delay. See Profile.Half for a path crossing two shaped links.
func Link(p Profile) LinkOption { return LinkOption{profile: &p} }

// WANLink makes a router's WAN link go through the impairment stage with
// profile p each way, like Link for a host: everything its LAN sends to or
// gets from the WAN segment crosses it (an access line).
func WANLink(p Profile) RouterOption {
	return func(r *Router) { r.shape = &p }
}

// LinkStats returns what the stage of the machine's shaped link did so
// far, out of the machine (up) and into it (down); ok is false when the
// link is not shaped.
func (h *Host) LinkStats() (up, down LinkStats, ok bool) {
	if h.stage == nil {
		return LinkStats{}, LinkStats{}, false
	}
	h.stage.mu.Lock()
	defer h.stage.mu.Unlock()
	return h.stage.stats[0], h.stage.stats[1], true
}

// Profile is the profile the machine's link is shaped with, if any.
func (h *Host) Profile() (Profile, bool) {
	if h.shape == nil {
		return Profile{}, false
	}
	return *h.shape, true
}

// attachShaped joins namespace ns to the segment as attach does, through
// the impairment stage of profile p instead of a veth pair.
func (s *Segment) attachShaped(h *Host, p Profile) {
	l := s.lab
	l.t.Helper()
	up, err := NewShaper(p, seedOf(h.ns, 1))
	if err != nil {
		l.t.Fatalf("netlab: link of %s: %v", h.name, err)
	}
	down, _ := NewShaper(p, seedOf(h.ns, 2))
	hostTap, err := openTAP(h.ns, h.ifname)
	if err != nil {
		l.t.Fatalf("netlab: link of %s: %v", h.name, err)
	}
	portTap, err := openTAP(s.ns, h.port)
	if err != nil {
		hostTap.Close()
		l.t.Fatalf("netlab: link of %s: %v", h.name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st := &stage{name: h.name, host: hostTap, port: portTap, cancel: cancel}
	l.mu.Lock()
	l.stages = append(l.stages, st)
	l.mu.Unlock()
	h.stage = st
	st.wg.Add(2)
	go st.pipe(ctx, hostTap, portTap, up, 0)
	go st.pipe(ctx, portTap, hostTap, down, 1)
	l.mustRun("ip", "-n", s.ns, "link", "set", h.port, "master", "br0", "up")
	l.mustRun("ip", "-n", h.ns, "addr", "add", netip.PrefixFrom(h.addr, s.prefix.Bits()).String(), "dev", h.ifname)
	l.mustRun("ip", "-n", h.ns, "link", "set", h.ifname, "up")
}

// seedOf is a per-link, per-direction seed: runs differ, directions too.
func seedOf(ns string, dir uint64) uint64 {
	x := uint64(time.Now().UnixNano()) ^ dir*0x9e3779b97f4a7c15
	for _, c := range []byte(ns) {
		x = x*1099511628211 ^ uint64(c)
	}
	return x
}

// openTAP creates TAP device name in namespace ns and returns its file
// (non-blocking, in Go's poller, so Close ends a Read). The device lives
// while the file is open.
func openTAP(ns, name string) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	res := make(chan result, 1)
	go func() {
		// As in Host.Run: the thread is never unlocked, so it is thrown
		// away with this goroutine instead of serving others in ns.
		runtime.LockOSThread()
		nsf, err := os.Open(netnsDir + "/" + ns)
		if err != nil {
			res <- result{nil, err}
			return
		}
		err = unix.Setns(int(nsf.Fd()), unix.CLONE_NEWNET)
		nsf.Close()
		if err != nil {
			res <- result{nil, fmt.Errorf("enter namespace %s: %w", ns, err)}
			return
		}
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			res <- result{nil, fmt.Errorf("open /dev/net/tun (the tun module, CONFIG_TUN): %w", err)}
			return
		}
		ifr, err := unix.NewIfreq(name)
		if err == nil {
			ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
			err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
		}
		if err != nil {
			unix.Close(fd)
			res <- result{nil, fmt.Errorf("create TAP %s in %s: %w", name, ns, err)}
			return
		}
		res <- result{os.NewFile(uintptr(fd), "tap:"+ns+":"+name), nil}
	}()
	r := <-res
	return r.f, r.err
}

// pipe copies frames from one TAP to the other through shaper sh until the
// stage closes.
func (st *stage) pipe(ctx context.Context, from, to *os.File, sh *Shaper, dir int) {
	defer st.wg.Done()
	q := &delayQueue{kick: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		q.deliver(ctx, to)
	}()
	defer wg.Wait()
	buf := make([]byte, maxFrame)
	for {
		n, err := from.Read(buf)
		if err != nil {
			// Closed (the stage ends), or the device is gone: nothing
			// to forward any more.
			return
		}
		frame := append([]byte(nil), buf[:n]...)
		due := time.Now()
		st.mu.Lock()
		s := &st.stats[dir]
		s.Frames++
		ipv4 := n >= 14 && frame[12] == 0x08 && frame[13] == 0x00
		if ipv4 {
			s.Shaped++
			lost, d := sh.Next()
			if lost {
				s.Lost++
				st.mu.Unlock()
				continue
			}
			due = due.Add(d)
		}
		if !q.push(due, frame) {
			s.Overflow++
		}
		st.mu.Unlock()
	}
}

// close stops the stage and waits for its goroutines; the TAP devices go
// with their files.
func (st *stage) close() {
	st.cancel()
	st.host.Close()
	st.port.Close()
	st.wg.Wait()
}

// delayQueue holds frames until they are due, in due order.
type delayQueue struct {
	mu   sync.Mutex
	h    frameHeap
	seq  uint64
	kick chan struct{}
}

type heldFrame struct {
	due   time.Time
	seq   uint64 // arrival order, for frames due at once
	frame []byte
}

type frameHeap []heldFrame

func (h frameHeap) Len() int { return len(h) }
func (h frameHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}
func (h frameHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *frameHeap) Push(x any)   { *h = append(*h, x.(heldFrame)) }
func (h *frameHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// push queues frame until due; false when the queue is full.
func (q *delayQueue) push(due time.Time, frame []byte) bool {
	q.mu.Lock()
	if len(q.h) >= stageQueue {
		q.mu.Unlock()
		return false
	}
	q.seq++
	heap.Push(&q.h, heldFrame{due: due, seq: q.seq, frame: frame})
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default:
	}
	return true
}

// deliver writes frames to `to` as they fall due, until ctx ends. A write
// that fails (the link is down) loses the frame, as a pulled cable does.
func (q *delayQueue) deliver(ctx context.Context, to *os.File) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		wait := time.Hour
		q.mu.Lock()
		for len(q.h) > 0 {
			if d := time.Until(q.h[0].due); d > 0 {
				wait = d
				break
			}
			f := heap.Pop(&q.h).(heldFrame)
			q.mu.Unlock()
			_, _ = to.Write(f.frame)
			q.mu.Lock()
		}
		q.mu.Unlock()
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-q.kick:
		case <-t.C:
		}
	}
}
