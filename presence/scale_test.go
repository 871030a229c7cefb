package presence

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

var (
	dhtNodes   = flag.Int("dht.nodes", 300, "BenchmarkDHTScale: nodes in the network")
	dhtServers = flag.Float64("dht.servers", 0.10, "BenchmarkDHTScale: fraction of the nodes that are super-nodes (DHT servers); the rest are DHT clients")
	dhtLatency = flag.Duration("dht.latency", 20*time.Millisecond, "BenchmarkDHTScale: one-way latency of every link")
	dhtChurn   = flag.Float64("dht.churn", 0.10, "BenchmarkDHTScale: fraction of the nodes replaced per minute in the churn phase")
	dhtPhase   = flag.Duration("dht.phase", 30*time.Second, "BenchmarkDHTScale: length of the steady phase and of the churn phase")
	dhtJSON    = flag.String("dht.json", "", "BenchmarkDHTScale: append the JSON line of the run to this file")
)

// BenchmarkDHTScale builds an in-process network (libp2p mocknet, every
// link with -dht.latency) of -dht.nodes peercall DHT nodes, -dht.servers
// of them super-nodes serving the DHT and the rest clients, each
// publishing its user's signed presence record; then looks users up from
// random nodes, first steady, then while -dht.churn of the nodes are
// replaced per minute (a node leaves without a goodbye, a new node with a
// new user joins and publishes). It reports publish and lookup latency
// (p50, p95), lookup success, and memory and goroutines per node.
//
//	go test -run '^$' -bench DHTScale -benchtime 1x ./presence/ -dht.nodes 1000
func BenchmarkDHTScale(b *testing.B) {
	for range b.N {
		res := runDHTScale(b)
		b.ReportMetric(res.Steady.SuccessPct, "steady-success-%")
		b.ReportMetric(res.Churn.SuccessPct, "churn-success-%")
		b.ReportMetric(res.Churn.P95ms, "churn-lookup-p95-ms")
		b.ReportMetric(res.HeapPerNodeKB, "heap-KiB/node")
		line, _ := json.Marshal(res)
		b.Logf("%s", line)
		printDHTTable(res)
		if *dhtJSON != "" {
			if f, err := os.OpenFile(*dhtJSON, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				fmt.Fprintf(f, "%s\n", line)
				f.Close()
			}
		}
	}
}

type dhtPhaseResult struct {
	Lookups    int     `json:"lookups"`
	SuccessPct float64 `json:"success_pct"`
	P50ms      float64 `json:"p50_ms"`
	P95ms      float64 `json:"p95_ms"`
	Replaced   int     `json:"nodes_replaced"`
}

type dhtScaleResult struct {
	Bench            string         `json:"bench"` // "dht_scale"
	Nodes            int            `json:"nodes"`
	Servers          int            `json:"servers"`
	LatencyMs        float64        `json:"link_latency_ms"`
	ChurnPerMin      float64        `json:"churn_per_min"`
	BuildS           float64        `json:"build_s"`
	Published        int            `json:"published"`
	PublishFailed    int            `json:"publish_failed"` // within 30 s (the lookups look only for published users)
	PublishP50ms     float64        `json:"publish_p50_ms"`
	PublishP95ms     float64        `json:"publish_p95_ms"`
	HeapPerNodeKB    float64        `json:"heap_kib_per_node"`
	GoroutinesPerNod float64        `json:"goroutines_per_node"`
	Steady           dhtPhaseResult `json:"steady"`
	Churn            dhtPhaseResult `json:"churn"`
}

type scaleNode struct {
	user   *presenceUser
	host   host.Host
	dht    *DHT
	server bool
	pub    bool // its record was stored: lookups look for it
}

type scaleNet struct {
	b         *testing.B
	f         *presenceFixture
	mn        mocknet.Mocknet
	mu        sync.Mutex
	live      []*scaleNode // published and running
	servers   []peer.AddrInfo
	next      int
	pubMu     sync.Mutex
	pubs      []time.Duration
	pubFailed atomic.Int64
}

func runDHTScale(b *testing.B) dhtScaleResult {
	b.StopTimer()
	n := &scaleNet{b: b, f: newPresenceFixture(b), mn: mocknet.New()}
	defer n.mn.Close()
	n.mn.SetLinkDefaults(mocknet.LinkOptions{Latency: *dhtLatency})
	servers := max(int(float64(*dhtNodes)**dhtServers), 2)
	res := dhtScaleResult{Bench: "dht_scale", Nodes: *dhtNodes, Servers: servers, LatencyMs: float64(*dhtLatency) / 1e6, ChurnPerMin: *dhtChurn}
	defer func() {
		n.mu.Lock()
		live := slices.Clone(n.live)
		n.mu.Unlock()
		for _, s := range live {
			s.close()
		}
	}()

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	start := time.Now()
	// The super-nodes first, each bootstrapped to those before it; then
	// the clients, 32 at a time, bootstrapped to a few super-nodes.
	for range servers {
		if _, err := n.join(true); err != nil {
			b.Fatal(err)
		}
	}
	if err := parallelDo(*dhtNodes-servers, 32, func(int) error {
		_, err := n.join(false)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	res.BuildS = time.Since(start).Seconds()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	res.HeapPerNodeKB = float64(after.HeapInuse-min(before.HeapInuse, after.HeapInuse)) / 1024 / float64(*dhtNodes)
	res.GoroutinesPerNod = float64(runtime.NumGoroutine()-g0) / float64(*dhtNodes)
	n.pubMu.Lock()
	res.Published = len(n.pubs)
	res.PublishFailed = int(n.pubFailed.Load())
	res.PublishP50ms, res.PublishP95ms = quantiles(n.pubs)
	n.pubMu.Unlock()

	res.Steady = n.lookups(*dhtPhase, 0)
	res.Churn = n.lookups(*dhtPhase, *dhtChurn)
	return res
}

// join starts a node with a new user, links it to every node it may dial
// (clients to super-nodes, super-nodes to all), bootstraps and publishes.
func (n *scaleNet) join(server bool) (*scaleNode, error) {
	n.mu.Lock()
	n.next++
	id := n.next
	n.mu.Unlock()
	u := n.f.newUser(n.b, fmt.Sprintf("user%d", id), uint64(id), presenceNow.Add(-time.Hour), 7*24*time.Hour) //nolint:gosec // small
	ip := netip.AddrFrom4([4]byte{10, byte(id >> 16), byte(id >> 8), byte(id)})
	h, err := n.mn.AddPeer(u.priv, ma.StringCast(fmt.Sprintf("/ip4/%s/tcp/4001", ip)))
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	boot := slices.Clone(n.servers)
	peers := n.mn.Peers()
	n.mu.Unlock()
	for _, p := range peers {
		if p == h.ID() {
			continue
		}
		if server || slices.ContainsFunc(boot, func(ai peer.AddrInfo) bool { return ai.ID == p }) {
			if _, err := n.mn.LinkPeers(h.ID(), p); err != nil {
				return nil, err
			}
		}
	}
	if len(boot) > 3 {
		rand.Shuffle(len(boot), func(i, j int) { boot[i], boot[j] = boot[j], boot[i] })
		boot = boot[:3]
	}
	mode := DHTModeClient
	if server {
		mode = DHTModeServer
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ai := range boot {
		_ = h.Connect(ctx, ai) // bootstrap peers answer or time out
	}
	d, err := NewDHT(ctx, h, DHTConfig{
		DirectoryKey: n.f.dirPub, Mode: mode, BootstrapPeers: boot,
		Now:     func() time.Time { return presenceNow },
		Options: []dht.Option{dht.Datastore(dssync.MutexWrap(ds.NewMapDatastore()))},
	})
	if err != nil {
		h.Close()
		return nil, err
	}
	s := &scaleNode{user: u, host: h, dht: d, server: server}
	if len(boot) > 0 {
		// Fill the routing table before publishing, as a node's first
		// refresh does.
		_ = d.IpfsDHT.Bootstrap(ctx)
		for t := time.Now(); d.RoutingTable().Size() == 0 && time.Since(t) < 10*time.Second; {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if server {
		n.mu.Lock()
		n.servers = append(n.servers, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
		n.mu.Unlock()
	}
	t0 := time.Now()
	if err := Publish(ctx, d, u.presence(1)); err == nil {
		s.pub = true
		n.pubMu.Lock()
		n.pubs = append(n.pubs, time.Since(t0))
		n.pubMu.Unlock()
	} else if len(boot) > 0 {
		n.pubFailed.Add(1)
		n.b.Logf("node %d: publish: %v", id, err)
	}
	n.mu.Lock()
	n.live = append(n.live, s)
	n.mu.Unlock()
	return s, nil
}

func (s *scaleNode) close() {
	_ = s.dht.Close()
	_ = s.host.Close()
}

// lookups runs 8 lookup loops for d (random node, random live user) while
// churn of the nodes are replaced per minute.
func (n *scaleNet) lookups(d time.Duration, churn float64) dhtPhaseResult {
	var res dhtPhaseResult
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var replaced atomic.Int64
	if churn > 0 {
		every := time.Duration(float64(time.Minute) / (churn * float64(*dhtNodes)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				if n.replaceOne() {
					replaced.Add(1)
				}
			}
		}()
	}
	var mu sync.Mutex
	var lat []time.Duration
	ok := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n.mu.Lock()
				from, to := n.live[rand.IntN(len(n.live))], n.live[rand.IntN(len(n.live))]
				for try := 0; !to.pub && try < 10*len(n.live); try++ { // a user whose publish failed is counted in PublishFailed, not here
					to = n.live[rand.IntN(len(n.live))]
				}
				n.mu.Unlock()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				t0 := time.Now()
				rec, err := Lookup(ctx, from.dht, to.user.name)
				el := time.Since(t0)
				cancel()
				mu.Lock()
				res.Lookups++
				if err == nil && rec.PeerID == to.user.id {
					ok++
					lat = append(lat, el)
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(d)
	close(stop)
	wg.Wait()
	if res.Lookups > 0 {
		res.SuccessPct = 100 * float64(ok) / float64(res.Lookups)
	}
	res.P50ms, res.P95ms = quantiles(lat)
	res.Replaced = int(replaced.Load())
	return res
}

// replaceOne stops a random node (no goodbye: its records stay where
// they were stored) and starts a new one of the same kind with a new
// user. A super-node is replaced only while more than two remain.
func (n *scaleNet) replaceOne() bool {
	n.mu.Lock()
	i := rand.IntN(len(n.live))
	s := n.live[i]
	if s.server && len(n.servers) <= 2 {
		n.mu.Unlock()
		return false
	}
	n.live = slices.Delete(n.live, i, i+1)
	if s.server {
		n.servers = slices.DeleteFunc(n.servers, func(ai peer.AddrInfo) bool { return ai.ID == s.host.ID() })
	}
	n.mu.Unlock()
	s.close()
	_, err := n.join(s.server)
	return err == nil
}

func quantiles(ds []time.Duration) (p50, p95 float64) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 { return float64(s[int(p*float64(len(s)-1))]) / 1e6 }
	return q(0.5), q(0.95)
}

func parallelDo(count, k int, f func(int) error) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, k)
	var first atomic.Pointer[error]
	for i := range count {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(i); err != nil {
				first.CompareAndSwap(nil, &err)
			}
		}()
	}
	wg.Wait()
	if e := first.Load(); e != nil {
		return *e
	}
	return nil
}

func printDHTTable(r dhtScaleResult) {
	fmt.Printf("\nDHT: %d nodes (%d super-nodes serving the DHT), %.0f ms link latency, built in %.0f s, %.0f KiB heap and %.0f goroutines per node\n\n",
		r.Nodes, r.Servers, r.LatencyMs, r.BuildS, r.HeapPerNodeKB, r.GoroutinesPerNod)
	fmt.Println("| phase | lookups | success % | p50 ms | p95 ms | nodes replaced |")
	fmt.Println("|---|---|---|---|---|---|")
	fmt.Printf("| publish | %d | %.1f | %.0f | %.0f | |\n", r.Published+r.PublishFailed, 100*float64(r.Published)/float64(max(r.Published+r.PublishFailed, 1)), r.PublishP50ms, r.PublishP95ms)
	for _, p := range []struct {
		name string
		r    dhtPhaseResult
	}{{"steady", r.Steady}, {fmt.Sprintf("churn %.0f %%/min", 100*r.ChurnPerMin), r.Churn}} {
		fmt.Printf("| %s | %d | %.1f | %.0f | %.0f | %d |\n", p.name, p.r.Lookups, p.r.SuccessPct, p.r.P50ms, p.r.P95ms, p.r.Replaced)
	}
	fmt.Println()
}
