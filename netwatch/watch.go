package netwatch

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Interval is how often the interfaces are read. Why a poll and not
// netlink: it is portable (Linux, macOS, Windows alike), needs no new
// dependency, and one read (two netlink dumps on Linux) costs about a
// quarter of a millisecond (BenchmarkSnapshot, on a loaded 2-core
// machine), so twice a second is 0.05% of a core; half a second keeps
// detection well inside the 1.5 s audio-gap budget of a move.
const Interval = 500 * time.Millisecond

// A Snapshot is the machine's usable addresses: those of interfaces that
// are up, without link-local ones, sorted.
type Snapshot []netip.Addr

// Equal reports whether s and o hold the same addresses.
func (s Snapshot) Equal(o Snapshot) bool { return slices.Equal(s, o) }

// Has reports whether ip is one of the snapshot's addresses.
func (s Snapshot) Has(ip netip.Addr) bool {
	_, ok := slices.BinarySearchFunc(s, ip.Unmap(), netip.Addr.Compare)
	return ok
}

// Read reads the machine's interfaces now.
func Read() (Snapshot, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out Snapshot
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue // the interface went away meanwhile
		}
		for _, a := range addrs {
			p, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(p.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() {
				continue
			}
			out = append(out, ip)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

// A Change is a new set of addresses (Old, New), or an injected change
// (Injected, from Watcher.Inject).
type Change struct {
	Old, New Snapshot
	Injected bool
	At       time.Time
}

// Config tunes a Watcher; the zero value polls the machine every Interval.
type Config struct {
	// Interval between reads (default Interval).
	Interval time.Duration
	// Read reads the addresses (default Read; tests pass their own).
	Read   func() (Snapshot, error)
	Logger *slog.Logger
}

// A Watcher reports changes of the machine's addresses on C until Close.
type Watcher struct {
	cfg    Config
	c      chan Change
	inject chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	last Snapshot
}

// New reads the addresses once and starts watching them.
func New(cfg Config) (*Watcher, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = Interval
	}
	if cfg.Read == nil {
		cfg.Read = Read
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	first, err := cfg.Read()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{cfg: cfg, c: make(chan Change, 1), inject: make(chan struct{}, 1), cancel: cancel,
		done: make(chan struct{}), last: first}
	go w.run(ctx)
	return w, nil
}

// C delivers changes. A reader that falls behind gets the latest one:
// changes not read yet are merged (Old from the first, New from the last).
func (w *Watcher) C() <-chan Change { return w.c }

// Addrs returns the latest addresses read.
func (w *Watcher) Addrs() Snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// Inject reports a change at once, whatever the interfaces say (a test
// hook, and the way a node is told of a change it cannot see, such as a
// new NAT in front of an unchanged address).
func (w *Watcher) Inject() {
	select {
	case w.inject <- struct{}{}:
	default:
	}
}

// Close stops the watcher and waits for it.
func (w *Watcher) Close() {
	w.cancel()
	<-w.done
}

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		injected := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.inject:
			injected = true
		}
		now, err := w.cfg.Read()
		if err != nil {
			w.cfg.Logger.Debug("read the network interfaces", "err", err)
			continue
		}
		w.mu.Lock()
		old := w.last
		w.last = now
		w.mu.Unlock()
		if !injected && old.Equal(now) {
			continue
		}
		w.send(Change{Old: old, New: now, Injected: injected, At: time.Now()})
	}
}

// send delivers ch, merging it with a change not read yet.
func (w *Watcher) send(ch Change) {
	for {
		select {
		case w.c <- ch:
			return
		default:
		}
		select {
		case prev := <-w.c:
			ch.Old, ch.Injected = prev.Old, ch.Injected || prev.Injected
		default:
		}
	}
}
