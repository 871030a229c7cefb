package connlimit

import (
	"container/list"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config are a Listener's limits.
type Config struct {
	// MaxConns is the most connections held in all. A connection arriving
	// at the cap takes the place of the one idle longest; with none idle
	// it is refused (closed at once). A connection not yet used (its TLS
	// handshake or first request still to come) counts as idle for this
	// only once it has been so for PressureIdle: when more clients arrive
	// than the cap holds (every node back at once after an outage), a
	// newcomer evicting a half-made connection would let none finish
	// (each evicted in turn by the next), so the newcomer is refused
	// cheaply instead and retries later.
	MaxConns int
	// MaxConnsPerAddr is the most connections of one client address (IPv4
	// address, IPv6 /64). A connection arriving at it takes the place of
	// that address's longest idle one (a not yet used one as for
	// MaxConns); with none idle it is refused.
	MaxConnsPerAddr int
	// HighWater is the pressure mark (0: three quarters of MaxConns).
	// Above it, connections idle (or not yet used) for longer than
	// PressureIdle are closed, longest idle first, until it is reached.
	HighWater int
	// PressureIdle is the idle timeout under pressure (default 5 s).
	PressureIdle time.Duration
	// RatePerAddr is how many new connections one client address may open
	// per second (bursts up to MaxConnsPerAddr); beyond it a connection is
	// refused before its TLS handshake, so that opening connections in a
	// loop costs the server little (0: no rate limit).
	RatePerAddr float64
	// Exempt are client addresses without per-address limits (trusted
	// reverse proxies, which carry many clients); MaxConns still applies.
	Exempt []netip.Prefix
	// Registerer receives the metrics (nil: none are registered).
	Registerer prometheus.Registerer
}

// Validate names the first setting out of range.
func (c Config) Validate() error {
	switch {
	case c.MaxConns < 1:
		return fmt.Errorf("connlimit: MaxConns is %d, want at least 1", c.MaxConns)
	case c.MaxConnsPerAddr < 1:
		return fmt.Errorf("connlimit: MaxConnsPerAddr is %d, want at least 1", c.MaxConnsPerAddr)
	case c.HighWater < 0 || c.HighWater > c.MaxConns:
		return fmt.Errorf("connlimit: HighWater is %d, want 0 (three quarters of MaxConns) to MaxConns %d", c.HighWater, c.MaxConns)
	case c.PressureIdle < 0:
		return fmt.Errorf("connlimit: PressureIdle is %v, want 0 (5s) or more", c.PressureIdle)
	case c.RatePerAddr < 0:
		return fmt.Errorf("connlimit: RatePerAddr is %v, want 0 (none) or more", c.RatePerAddr)
	}
	return nil
}

// Reasons connections are refused or closed, the label of the metrics.
const (
	RefusedPerAddr = "per_addr"
	RefusedRate    = "rate"
	RefusedTotal   = "total"
	ClosedPerAddr  = "evicted_per_addr" // an idle one made room for its address's newcomer
	ClosedTotal    = "evicted_total"    // an idle one made room at MaxConns
	ClosedPressure = "idle_pressure"    // idle past PressureIdle above HighWater
)

// Listener is a net.Listener that holds at most its Config's connections.
// Give its ConnState to the http.Server serving it (the server tells it
// which connections are idle); Accept returns only admitted connections.
type Listener struct {
	net.Listener
	cfg Config

	mu    sync.Mutex
	total int
	addrs map[string]*addrConns
	// Quiet connections, longest first: idle ones that served a request,
	// and not yet used ones.
	idle, fresh *list.List
	rates       map[string]*rate

	accepted prometheus.Counter
	refused  *prometheus.CounterVec
	closed   *prometheus.CounterVec
}

// maxRates bounds the per-address rate buckets kept.
const maxRates = 1 << 16

// rate is a token bucket of new connections.
type rate struct {
	tokens float64
	at     time.Time
}

// allowLocked takes a token of key's bucket, or reports that it is empty.
func (l *Listener) allowLocked(key string, now time.Time) bool {
	burst, perSec := float64(l.cfg.MaxConnsPerAddr), l.cfg.RatePerAddr
	r := l.rates[key]
	if r == nil {
		if len(l.rates) >= maxRates {
			for k, old := range l.rates { // drop the full ones
				if old.tokens+now.Sub(old.at).Seconds()*perSec >= burst {
					delete(l.rates, k)
				}
			}
			for k := range l.rates { // still full: drop some (they only lose a rate limit)
				if len(l.rates) < maxRates/2 {
					break
				}
				delete(l.rates, k)
			}
		}
		r = &rate{tokens: burst, at: now}
		l.rates[key] = r
	}
	r.tokens = min(burst, r.tokens+now.Sub(r.at).Seconds()*perSec)
	r.at = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}

type addrConns struct {
	count       int
	idle, fresh *list.List // this address's share of Listener.idle and fresh
}

func newAddrConns() *addrConns { return &addrConns{idle: list.New(), fresh: list.New()} }

// New wraps inner. It fails when cfg is out of range or its metrics
// cannot be registered.
func New(inner net.Listener, cfg Config) (*Listener, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.HighWater == 0 {
		cfg.HighWater = max(1, cfg.MaxConns*3/4)
	}
	if cfg.PressureIdle == 0 {
		cfg.PressureIdle = 5 * time.Second
	}
	l := &Listener{
		Listener: inner,
		cfg:      cfg,
		addrs:    map[string]*addrConns{},
		idle:     list.New(),
		fresh:    list.New(),
		rates:    map[string]*rate{},
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "peercall_directory_connections_accepted_total",
			Help: "TCP connections admitted by the connection limits.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peercall_directory_connections_refused_total",
			Help: "TCP connections closed as they arrived, by reason (rate: the client address opened more than conn_rate_per_addr a second; per_addr: it held max_conns_per_addr, none idle; total: max_conns held, none idle).",
		}, []string{"reason"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peercall_directory_connections_closed_total",
			Help: "Idle TCP connections the directory closed early, by reason (evicted_per_addr, evicted_total: to make room for a newcomer; idle_pressure: idle past pressure_idle_timeout above conns_high_water).",
		}, []string{"reason"}),
	}
	for _, r := range []string{RefusedPerAddr, RefusedRate, RefusedTotal} {
		l.refused.WithLabelValues(r)
	}
	for _, r := range []string{ClosedPerAddr, ClosedTotal, ClosedPressure} {
		l.closed.WithLabelValues(r)
	}
	if reg := cfg.Registerer; reg != nil {
		open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "peercall_directory_connections_open",
			Help: "TCP connections held now.",
		}, func() float64 { o, _ := l.Stats(); return float64(o) })
		idle := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "peercall_directory_connections_idle",
			Help: "TCP connections held now that are idle or not yet used.",
		}, func() float64 { _, i := l.Stats(); return float64(i) })
		for _, c := range []prometheus.Collector{l.accepted, l.refused, l.closed, open, idle} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("connlimit: register metrics: %w", err)
			}
		}
	}
	return l, nil
}

// Stats returns the connections held and how many of them are idle.
func (l *Listener) Stats() (open, idle int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.idle.Len() + l.fresh.Len()
}

// Accept returns the next connection the limits admit, closing the ones
// they refuse and the idle ones they recycle.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, exempt := l.key(nc.RemoteAddr())
		now := time.Now()
		var victims []*conn
		refused := ""
		l.mu.Lock()
		victims = l.relieveLocked(now, victims)
		a := l.addrs[key]
		if a == nil {
			a = newAddrConns()
		}
		if !exempt && l.cfg.RatePerAddr > 0 && !l.allowLocked(key, now) {
			refused = RefusedRate
		} else if !exempt && a.count >= l.cfg.MaxConnsPerAddr {
			if v := l.evictableLocked(a.idle, a.fresh, now); v != nil {
				victims = append(victims, l.dropLocked(v, ClosedPerAddr))
			} else {
				refused = RefusedPerAddr
			}
		}
		if refused == "" && l.total >= l.cfg.MaxConns {
			if v := l.evictableLocked(l.idle, l.fresh, now); v != nil {
				victims = append(victims, l.dropLocked(v, ClosedTotal))
			} else {
				refused = RefusedTotal
			}
		}
		var c *conn
		if refused == "" {
			c = &conn{Conn: nc, l: l, key: key}
			l.addrs[key] = a
			a.count++
			l.total++
			l.setQuietLocked(c, now) // not used yet
		}
		l.mu.Unlock()
		for _, v := range victims {
			v.Conn.Close()
		}
		if refused != "" {
			// Counted before the close, so that whoever sees the close
			// also sees it counted.
			l.refused.WithLabelValues(refused).Inc()
			nc.Close()
			continue
		}
		l.accepted.Inc()
		return c, nil
	}
}

// evictableLocked is the connection a newcomer may take the place of: the
// one quiet longest among the idle ones and the not yet used ones that have
// been so for PressureIdle; nil when there is none.
func (l *Listener) evictableLocked(idle, fresh *list.List, now time.Time) *conn {
	v := oldest(idle)
	if f := oldest(fresh); f != nil && now.Sub(f.quietSince) >= l.cfg.PressureIdle && (v == nil || f.quietSince.Before(v.quietSince)) {
		v = f
	}
	return v
}

// relieveLocked closes, above the high-water mark, connections quiet for
// longer than PressureIdle, longest first, until the mark is reached.
func (l *Listener) relieveLocked(now time.Time, victims []*conn) []*conn {
	for l.total > l.cfg.HighWater {
		v := oldest(l.idle)
		if f := oldest(l.fresh); v == nil || (f != nil && f.quietSince.Before(v.quietSince)) {
			v = f
		}
		if v == nil || now.Sub(v.quietSince) < l.cfg.PressureIdle {
			break
		}
		victims = append(victims, l.dropLocked(v, ClosedPressure))
	}
	return victims
}

// ConnState is the http.Server ConnState hook: it tells the Listener
// which connections are idle.
func (l *Listener) ConnState(nc net.Conn, st http.ConnState) {
	c := l.find(nc)
	if c == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.dropped {
		return
	}
	switch st {
	case http.StateActive:
		l.setActiveLocked(c)
		c.used = true
	case http.StateIdle:
		l.setActiveLocked(c)
		l.setQuietLocked(c, time.Now())
	}
}

// find unwraps nc (a *tls.Conn over one of ours) to our conn.
func (l *Listener) find(nc net.Conn) *conn {
	for range 4 {
		switch c := nc.(type) {
		case *conn:
			if c.l == l {
				return c
			}
			return nil
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return nil
		}
	}
	return nil
}

func (l *Listener) setQuietLocked(c *conn, now time.Time) {
	if c.all != nil {
		return
	}
	c.quietSince = now
	a := l.addrs[c.key]
	c.allList, c.mineList = l.fresh, a.fresh
	if c.used {
		c.allList, c.mineList = l.idle, a.idle
	}
	c.all = c.allList.PushBack(c)
	c.mine = c.mineList.PushBack(c)
}

func (l *Listener) setActiveLocked(c *conn) {
	if c.all == nil {
		return
	}
	c.allList.Remove(c.all)
	c.mineList.Remove(c.mine)
	c.all, c.mine, c.allList, c.mineList = nil, nil, nil, nil
}

// dropLocked stops counting c (closed, or to be closed by the caller
// outside the lock) and returns it.
func (l *Listener) dropLocked(c *conn, reason string) *conn {
	if c.dropped {
		return c
	}
	l.setActiveLocked(c)
	c.dropped = true
	l.total--
	a := l.addrs[c.key]
	if a.count--; a.count == 0 {
		delete(l.addrs, c.key)
	}
	if reason != "" {
		l.closed.WithLabelValues(reason).Inc()
	}
	return c
}

// key is the client address of a connection and whether it is exempt.
func (l *Listener) key(a net.Addr) (string, bool) {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.String(), false
	}
	ip := ap.Addr().Unmap().WithZone("")
	exempt := false
	for _, p := range l.cfg.Exempt {
		exempt = exempt || p.Contains(ip)
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String(), exempt
	}
	return ip.String(), exempt
}

func oldest(q *list.List) *conn {
	if e := q.Front(); e != nil {
		return e.Value.(*conn)
	}
	return nil
}

// conn is an admitted connection; Close stops counting it.
type conn struct {
	net.Conn
	l          *Listener
	key        string
	quietSince time.Time
	all, mine  *list.Element // in a quiet list of the Listener and of its address, when quiet
	// allList and mineList are those lists (idle or fresh).
	allList, mineList *list.List
	used              bool // it has served a request
	dropped           bool // no longer counted (guarded by l.mu)
}

func (c *conn) Close() error {
	c.l.mu.Lock()
	c.l.dropLocked(c, "")
	c.l.mu.Unlock()
	return c.Conn.Close()
}
