package server

import (
	"container/heap"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Costs in a login budget: a failure costs failCost units, a success
// successCost, so that failures count four times as much.
const (
	failCost    = 4
	successCost = 1
)

// budget is a token bucket: level units at time at, refilling continuously.
type budget struct {
	level float64
	at    time.Time
}

// levelAt is the bucket's level at now, refilled at rate units per second
// up to burst.
func (b budget) levelAt(now time.Time, rate, burst float64) float64 {
	d := now.Sub(b.at).Seconds()
	if d < 0 {
		d = 0
	}
	return min(burst, b.level+d*rate)
}

// budgetTable holds one budget per key (a username, a client address, a
// username and machine key), at most max of them. A key that is not in
// the table has its whole budget, so only spent budgets are kept, and an
// entry leaves the table only once its budget is full again: a flood of
// new keys can never evict (and so reset) a key whose budget it spent.
// When the table is full of spent budgets, new keys share one overflow
// budget of the same size: the directory then fails closed for keys it
// has no room for rather than open for the ones it holds.
type budgetTable struct {
	mu         sync.Mutex
	rate       float64 // units per second
	burst      float64
	max        int
	byKey      map[string]*budgetEntry
	byFull     fullHeap // entries by the time their budget is full again
	overflow   budget
	onOverflow func() // counts requests charged to the overflow budget
}

type budgetEntry struct {
	key    string
	b      budget
	fullAt time.Time
	index  int // in byFull
}

// newBudgetTable allows units per window per key, keeping at most max keys.
func newBudgetTable(units int, window time.Duration, max int, onOverflow func()) *budgetTable {
	burst := float64(units)
	return &budgetTable{
		rate:       burst / window.Seconds(),
		burst:      burst,
		max:        max,
		byKey:      map[string]*budgetEntry{},
		overflow:   budget{level: burst},
		onOverflow: onOverflow,
	}
}

// ticket is units taken from one key's budget, which refund gives back.
type ticket struct {
	t        *budgetTable
	key      string
	overflow bool
}

// take spends cost units of key's budget when it holds them; otherwise it
// changes nothing and returns the wait until it will.
func (t *budgetTable) take(key string, now time.Time, cost float64) (ticket, time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byKey[key]
	overflow := false
	b := budget{level: t.burst, at: now}
	switch {
	case e != nil:
		b = e.b
	default:
		t.dropFull(now)
		if len(t.byKey) >= t.max {
			overflow, b = true, t.overflow
			if t.onOverflow != nil {
				t.onOverflow()
			}
		}
	}
	level := b.levelAt(now, t.rate, t.burst)
	if level < cost {
		if cost > t.burst {
			return ticket{}, time.Hour, false // never affordable (validate prevents it)
		}
		return ticket{}, time.Duration((cost - level) / t.rate * float64(time.Second)), false
	}
	b = budget{level: level - cost, at: now}
	if overflow {
		t.overflow = b
		return ticket{t: t, key: key, overflow: true}, 0, true
	}
	if e == nil {
		e = &budgetEntry{key: key}
		t.byKey[key] = e
		heap.Push(&t.byFull, e)
	}
	t.set(e, b)
	return ticket{t: t, key: key}, 0, true
}

// set stores b in e and files e by when it is full again.
func (t *budgetTable) set(e *budgetEntry, b budget) {
	e.b = b
	e.fullAt = b.at.Add(time.Duration((t.burst - b.level) / t.rate * float64(time.Second)))
	heap.Fix(&t.byFull, e.index)
}

// dropFull forgets the entries whose budget is full again at now.
func (t *budgetTable) dropFull(now time.Time) {
	for len(t.byFull) > 0 && !t.byFull[0].fullAt.After(now) {
		e := heap.Pop(&t.byFull).(*budgetEntry)
		delete(t.byKey, e.key)
	}
}

// refund gives units back to the ticket's budget (up to its size).
func (tk ticket) refund(now time.Time, units float64) {
	t := tk.t
	if t == nil || units <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tk.overflow {
		t.overflow = budget{level: min(t.burst, t.overflow.levelAt(now, t.rate, t.burst)+units), at: now}
		return
	}
	e := t.byKey[tk.key]
	if e == nil {
		return // full again and forgotten meanwhile
	}
	level := e.b.levelAt(now, t.rate, t.burst) + units
	if level >= t.burst {
		heap.Remove(&t.byFull, e.index)
		delete(t.byKey, e.key)
		return
	}
	t.set(e, budget{level: level, at: now})
}

// remaining is the budget key has at now.
func (t *budgetTable) remaining(key string, now time.Time) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byKey[key]; e != nil {
		return e.b.levelAt(now, t.rate, t.burst)
	}
	if len(t.byKey) >= t.max {
		return t.overflow.levelAt(now, t.rate, t.burst)
	}
	return t.burst
}

// has reports whether key's budget is held (spent).
func (t *budgetTable) has(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byKey[key] != nil
}

// len is the number of keys held.
func (t *budgetTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byKey)
}

// fullHeap orders budget entries by fullAt, soonest first.
type fullHeap []*budgetEntry

func (h fullHeap) Len() int           { return len(h) }
func (h fullHeap) Less(i, j int) bool { return h[i].fullAt.Before(h[j].fullAt) }
func (h fullHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *fullHeap) Push(x any) {
	e := x.(*budgetEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *fullHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// clientIP is the request's client address. When the peer is one of the
// trusted proxies, the client is the rightmost address of X-Forwarded-For
// that is not a trusted proxy itself. ok is false when RemoteAddr holds no
// IP address (never over TCP).
func clientIP(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	ip = ip.Unmap()
	if isTrusted(ip, trusted) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a malformed hop: stop at the last proxy we trust
			}
			hop = hop.Unmap()
			ip = hop
			if !isTrusted(hop, trusted) {
				break
			}
		}
	}
	return ip.WithZone(""), true
}

// clientKey is the throttling key of the request's client: its IP address,
// or its /64 for IPv6 (one host usually holds a whole /64).
func clientKey(r *http.Request, trusted []netip.Prefix) string {
	ip, ok := clientIP(r, trusted)
	if !ok {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		return host
	}
	return addrKey(ip)
}

// addrKey is the throttling key of an address: itself, or its /64.
func addrKey(ip netip.Addr) string {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
