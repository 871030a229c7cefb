package supernode

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// slowProviders is a DHT whose provider query finds the given super-nodes
// at once and then goes on (peers that do not answer) until release is
// closed or its context ends, as a query on a small network does.
type slowProviders struct {
	found    []peer.AddrInfo
	release  chan struct{}
	ended    chan struct{} // closed when the query ended
	released atomic.Bool   // set just before release is closed
	cut      error         // the query context's error, when it cut the query
}

func (s *slowProviders) Provide(context.Context, cid.Cid, bool) error { return nil }

func (s *slowProviders) FindProvidersAsync(ctx context.Context, _ cid.Cid, _ int) <-chan peer.AddrInfo {
	out := make(chan peer.AddrInfo)
	go func() {
		defer close(out)
		defer close(s.ended)
		for _, ai := range s.found {
			select {
			case out <- ai:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-s.release:
		case <-ctx.Done():
			s.cut = ctx.Err()
		}
	}()
	return out
}

func loopbackHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestFindSuperNodesGrace: a call's lookup (grace > 0) returns the
// super-node found without waiting for the DHT query to end, and cuts the
// query; the finder's own lookup (grace 0) waits for the query's end.
func TestFindSuperNodesGrace(t *testing.T) {
	super := loopbackHost(t)
	tests := []struct {
		name     string
		grace    time.Duration
		release  bool // the query ends by itself, a little later
		wantCut  bool // findSuperNodes cut the query short
		wantWait bool // findSuperNodes returned after the query ended
	}{
		{"call's lookup, grace", quickRelayGrace, false, true, false},
		{"finder's lookup, whole query", 0, true, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &slowProviders{found: []peer.AddrInfo{{ID: super.ID(), Addrs: super.Addrs()}},
				release: make(chan struct{}), ended: make(chan struct{})}
			m := &Manager{h: loopbackHost(t), routing: r, log: slog.New(slog.DiscardHandler)}
			if tc.release {
				go func() {
					time.Sleep(500 * time.Millisecond)
					r.released.Store(true)
					close(r.release)
				}()
			}
			got := m.findSuperNodes(t.Context(), tc.grace)
			if len(got) != 1 || got[0].ID != super.ID() {
				t.Fatalf("found %v; want the one super-node %s", got, super.ID())
			}
			select {
			case <-r.ended:
			default:
				t.Fatal("findSuperNodes returned with its DHT query still running")
			}
			if cut := r.cut != nil; cut != tc.wantCut {
				t.Errorf("query cut short: %v (%v); want %v", cut, r.cut, tc.wantCut)
			}
			if waited := r.released.Load(); waited != tc.wantWait {
				t.Errorf("returned after the query ended by itself: %v; want %v", waited, tc.wantWait)
			}
		})
	}
}

// growingProviders is a DHT whose provider query finds the super-nodes
// published so far (publish adds one) and ends.
type growingProviders struct {
	mu      sync.Mutex
	found   []peer.AddrInfo
	queries atomic.Int64
}

func (g *growingProviders) publish(ai peer.AddrInfo) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.found = append(g.found, ai)
}

func (g *growingProviders) Provide(context.Context, cid.Cid, bool) error { return nil }

func (g *growingProviders) FindProvidersAsync(ctx context.Context, _ cid.Cid, _ int) <-chan peer.AddrInfo {
	g.queries.Add(1)
	g.mu.Lock()
	found := append([]peer.AddrInfo(nil), g.found...)
	g.mu.Unlock()
	out := make(chan peer.AddrInfo)
	go func() {
		defer close(out)
		for _, ai := range found {
			select {
			case out <- ai:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// TestFinderTopsUpAListOfOne: a node whose lookup found one super-node
// (the other just promoted, not yet published) looks again with backoff,
// seconds later, not a whole Refresh (an hour here) later, so that a
// relay-only call soon has a standby relay on a second super-node. The
// lab's relay-killed failover failed 2 of 10 runs so: the callee knew one
// super-node, and it was the one that died.
func TestFinderTopsUpAListOfOne(t *testing.T) {
	first, second := loopbackHost(t), loopbackHost(t)
	g := &growingProviders{}
	g.publish(peer.AddrInfo{ID: first.ID(), Addrs: first.Addrs()})
	m := &Manager{h: loopbackHost(t), routing: g, log: slog.New(slog.DiscardHandler), opts: Options{Refresh: time.Hour}}
	m.finder = newFinder(m)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	go m.finder.run(ctx, &wg)
	defer func() { cancel(); wg.Wait() }()
	m.finder.trigger() // as a call's quick lookup or a lost super-node does
	known := func() int { return len(m.SuperNodes()) }
	deadline := time.Now().Add(20 * time.Second)
	for known() < 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if known() != 1 {
		t.Fatalf("the finder knows %d super-nodes after its first lookup; want the one published", known())
	}
	g.publish(peer.AddrInfo{ID: second.ID(), Addrs: second.Addrs()})
	for known() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if known() != 2 {
		t.Fatalf("the finder still knows %d super-node(s) after %d lookups; want the second, published after its first lookup, found without waiting for Refresh", known(), g.queries.Load())
	}
}
