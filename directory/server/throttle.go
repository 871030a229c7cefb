package server

import (
	"container/list"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Costs in a login budget: a failure costs failCost units, a success
// successCost, so that failures count four times as much.
const (
	failCost    = 4
	successCost = 1
)

// limiterTable holds one token bucket per key (a username or a client
// address), at most max of them: the least recently used is forgotten first.
// An entry idle for longer than its window has a full bucket again, so
// forgetting it loses nothing; forgetting a busier one (only under a flood
// of more than max keys) gives that key a fresh budget.
type limiterTable struct {
	mu     sync.Mutex
	limit  rate.Limit
	burst  int
	max    int
	byKey  map[string]*list.Element
	lru    *list.List // of *limiterEntry, most recent first
	window time.Duration
}

type limiterEntry struct {
	key  string
	lim  *rate.Limiter
	used time.Time
}

// newLimiterTable allows events units per window per key.
func newLimiterTable(units int, window time.Duration, max int) *limiterTable {
	return &limiterTable{
		limit:  rate.Limit(float64(units) / window.Seconds()),
		burst:  units,
		max:    max,
		byKey:  map[string]*list.Element{},
		lru:    list.New(),
		window: window,
	}
}

// get returns key's limiter, creating it (and evicting) as needed.
func (t *limiterTable) get(key string, now time.Time) *rate.Limiter {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.byKey[key]; ok {
		t.lru.MoveToFront(el)
		e := el.Value.(*limiterEntry)
		e.used = now
		return e.lim
	}
	for t.lru.Len() >= t.max {
		el := t.lru.Back()
		delete(t.byKey, el.Value.(*limiterEntry).key)
		t.lru.Remove(el)
	}
	// Drop entries idle for a whole window: their buckets are full.
	for el := t.lru.Back(); el != nil && now.Sub(el.Value.(*limiterEntry).used) > t.window; el = t.lru.Back() {
		delete(t.byKey, el.Value.(*limiterEntry).key)
		t.lru.Remove(el)
	}
	e := &limiterEntry{key: key, lim: rate.NewLimiter(t.limit, t.burst), used: now}
	t.byKey[key] = t.lru.PushFront(e)
	return e.lim
}

// len is the number of tracked keys.
func (t *limiterTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Len()
}

// charge is a cost reserved in some limiters, to be settled when the outcome
// is known.
type charge struct {
	now  time.Time
	lims []*rate.Limiter
	res  []*rate.Reservation
}

// reserve takes cost units from every limiter, or none of them: when one is
// exhausted it returns the wait until all could pay, and the index of the
// limiter that imposes it.
func reserve(now time.Time, cost int, lims ...*rate.Limiter) (c *charge, wait time.Duration, which int) {
	c = &charge{now: now, lims: lims}
	for i, l := range lims {
		r := l.ReserveN(now, cost)
		c.res = append(c.res, r)
		d := time.Minute // cost above the burst: never affordable (not configured so)
		if r.OK() {
			d = r.DelayFrom(now)
		}
		if d > wait {
			wait, which = d, i
		}
	}
	if wait > 0 {
		c.cancel()
		return nil, wait, which
	}
	return c, 0, 0
}

// cancel gives the reserved units back.
func (c *charge) cancel() {
	for _, r := range c.res {
		r.CancelAt(c.now)
	}
}

// settle keeps cost units of the reservation (returning the rest).
func (c *charge) settle(cost, reserved int) {
	if cost == reserved {
		return
	}
	c.cancel()
	for _, l := range c.lims {
		l.ReserveN(c.now, cost)
	}
}

// clientKey is the throttling key of the request's client: its IP address,
// or its /64 for IPv6 (one host usually holds a whole /64). When the peer is
// one of the trusted proxies, the client is the rightmost address of
// X-Forwarded-For that is not a trusted proxy itself.
func clientKey(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
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
