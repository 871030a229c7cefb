package handshake

import (
	"container/list"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config are a Listener's limits.
type Config struct {
	// MaxConcurrent is the most handshakes run at once (at least 1).
	MaxConcurrent int
	// MaxWait is the longest a connection waits for a handshake slot,
	// after its ClientHello; then it is closed (0: closed at once when
	// every slot is taken).
	MaxWait time.Duration
	// Timeout bounds one connection's handshake from its arrival, not
	// counting the wait for a slot (0: 10 s).
	Timeout time.Duration
	// Registerer receives the metrics (nil: none are registered).
	Registerer prometheus.Registerer
	// onGrant, when set (tests), is called with the class of each
	// handshake given a slot.
	onGrant func(class int)
}

// Validate names the first setting out of range.
func (c Config) Validate() error {
	switch {
	case c.MaxConcurrent < 1:
		return fmt.Errorf("handshake: MaxConcurrent is %d, want at least 1", c.MaxConcurrent)
	case c.MaxWait < 0:
		return fmt.Errorf("handshake: MaxWait is %v, want 0 or more", c.MaxWait)
	case c.Timeout < 0:
		return fmt.Errorf("handshake: Timeout is %v, want 0 (10s) or more", c.Timeout)
	}
	return nil
}

// Results of a handshake, the label of the metrics.
const (
	ResultFull    = "full"    // a full handshake completed
	ResultResumed = "resumed" // a resumed session's handshake completed
	ResultShed    = "shed"    // no slot within MaxWait: closed
	ResultFailed  = "failed"  // the handshake failed or timed out
)

// errShed is the handshake error of a connection that found no slot.
var errShed = errors.New("handshake: no handshake slot free within the wait; the connection is closed so that its client retries later")

// Listener is a net.Listener whose Accept returns *tls.Conn connections
// with their handshake done. Close stops it and the handshakes it runs.
type Listener struct {
	inner net.Listener
	base  *tls.Config // as given
	tls   *tls.Config // base with admit; its ticket keys seal every session
	cfg   Config
	gate  *gate

	ready  chan *tls.Conn
	closed chan struct{}
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	errMu sync.Mutex
	err   error // the inner listener's, once it failed

	results  *prometheus.CounterVec
	inFlight prometheus.GaugeFunc
	waiting  prometheus.GaugeFunc
}

// pendingKey carries a connection's *pending in its handshake's context.
type pendingKey struct{}

// pending is a connection in its handshake.
type pending struct {
	raw  net.Conn
	held bool      // it holds a slot
	born time.Time // when its session's chain began (its full handshake)
}

// New wraps inner: its connections are served with config (cloned; its
// GetConfigForClient must be nil). It fails when cfg is out of range or
// the metrics cannot be registered.
func New(inner net.Listener, config *tls.Config, cfg Config) (*Listener, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if config == nil || config.GetConfigForClient != nil {
		return nil, errors.New("handshake: want a TLS configuration without GetConfigForClient")
	}
	if len(config.Certificates) == 0 && config.GetCertificate == nil {
		return nil, errors.New("handshake: the TLS configuration has no certificate: set Certificates or GetCertificate")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	l := &Listener{
		inner:  inner,
		cfg:    cfg,
		gate:   newGate(cfg.MaxConcurrent),
		ready:  make(chan *tls.Conn),
		closed: make(chan struct{}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peercall_directory_tls_handshakes_total",
			Help: "TLS handshakes of the API listener, by result (full, resumed: completed; shed: no slot free within max_handshake_wait, closed; failed: failed or timed out).",
		}, []string{"result"}),
	}
	for _, r := range []string{ResultFull, ResultResumed, ResultShed, ResultFailed} {
		l.results.WithLabelValues(r)
	}
	l.inFlight = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "peercall_directory_tls_handshakes_running",
		Help: "TLS handshakes holding a slot now (at most max_concurrent_handshakes).",
	}, func() float64 { r, _ := l.gate.stats(); return float64(r) })
	l.waiting = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "peercall_directory_tls_handshakes_waiting",
		Help: "TLS handshakes waiting for a slot now.",
	}, func() float64 { _, w := l.gate.stats(); return float64(w) })
	if reg := cfg.Registerer; reg != nil {
		for _, c := range []prometheus.Collector{l.results, l.inFlight, l.waiting} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("handshake: register metrics: %w", err)
			}
		}
	}
	l.base = config.Clone()
	l.tls = config.Clone()
	l.tls.GetConfigForClient = l.admit
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Go(l.acceptLoop)
	return l, nil
}

// Stats returns the handshakes holding a slot and those waiting for one.
func (l *Listener) Stats() (running, waiting int) { return l.gate.stats() }

// Accept returns the next connection whose handshake succeeded.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.closed:
		l.errMu.Lock()
		defer l.errMu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

// Addr is the inner listener's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// Close closes the inner listener, ends the handshakes in progress and
// waits for them.
func (l *Listener) Close() error {
	err := l.inner.Close()
	l.stop(nil)
	l.wg.Wait()
	return err
}

// stop marks the listener closed (err: why, nil when closed on purpose).
func (l *Listener) stop(err error) {
	l.once.Do(func() {
		l.errMu.Lock()
		l.err = err
		l.errMu.Unlock()
		l.cancel()
		close(l.closed)
	})
}

// acceptLoop accepts connections and starts each one's handshake.
func (l *Listener) acceptLoop() {
	var delay time.Duration
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// As net/http does: out of file descriptors and such.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
					continue
				case <-l.closed:
					return
				}
			}
			if errors.Is(err, net.ErrClosed) {
				err = nil
			}
			l.stop(err)
			return
		}
		delay = 0
		l.wg.Go(func() { l.handshake(raw) })
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// handshake runs raw's handshake and hands it to Accept.
func (l *Listener) handshake(raw net.Conn) {
	p := &pending{raw: raw}
	ctx := context.WithValue(l.ctx, pendingKey{}, p)
	ctx, cancel := context.WithTimeout(ctx, l.cfg.MaxWait+l.cfg.Timeout)
	defer cancel()
	raw.SetDeadline(time.Now().Add(l.cfg.MaxWait + l.cfg.Timeout))
	c := tls.Server(raw, l.tls)
	err := c.HandshakeContext(ctx)
	// Counted before the slot is given back, so that whoever gets it next
	// sees this one counted.
	result := ResultFull
	switch {
	case errors.Is(err, errShed):
		result = "" // counted by admit
	case err != nil:
		result = ResultFailed
	case c.ConnectionState().DidResume:
		result = ResultResumed
	}
	if result != "" {
		l.results.WithLabelValues(result).Inc()
	}
	if p.held {
		l.gate.release()
	}
	if err != nil {
		raw.Close()
		return
	}
	raw.SetDeadline(time.Time{})
	select {
	case l.ready <- c:
	case <-l.closed:
		c.Close()
	}
}

// admit is the GetConfigForClient of the listener's TLS configuration. It
// returns the connection's own configuration, whose hooks take its
// handshake slot once the kind of handshake is known, before the key
// exchange's signature or resumption: UnwrapSession for a session resumed,
// GetCertificate for a full handshake. With no slot within MaxWait, the
// connection is closed (no alert: its client sees the connection end and
// retries as for any dropped connection).
func (l *Listener) admit(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	p, _ := hello.Context().Value(pendingKey{}).(*pending)
	if p == nil { // not one of ours (cannot happen)
		return nil, nil
	}
	c := l.tls.Clone()
	c.GetConfigForClient = nil
	c.Certificates = nil
	c.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if err := l.take(h.Context(), p, classFull); err != nil {
			return nil, err
		}
		p.born = time.Now()
		if l.base.GetCertificate != nil {
			return l.base.GetCertificate(h)
		}
		for i := range l.base.Certificates {
			if h.SupportsCertificate(&l.base.Certificates[i]) == nil {
				return &l.base.Certificates[i], nil
			}
		}
		return &l.base.Certificates[0], nil
	}
	c.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := l.tls.DecryptTicket(identity, cs)
		if err != nil || ss == nil {
			return nil, nil // not ours or expired: a full handshake
		}
		born, ok := sessionBorn(ss)
		if !ok {
			return nil, nil
		}
		class := classResumed
		if l.gate.before(born) {
			class = classEstablished
		}
		if err := l.take(hello.Context(), p, class); err != nil {
			return nil, err
		}
		p.born = born
		return ss, nil
	}
	c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		born := p.born
		if born.IsZero() {
			born = time.Now()
		}
		ss.Extra = [][]byte{binary.BigEndian.AppendUint64(nil, uint64(born.UnixNano()))}
		return l.tls.EncryptTicket(cs, ss)
	}
	return c, nil
}

// sessionBorn is when the session's chain of resumptions began: the full
// handshake it descends from (WrapSession keeps it in the ticket).
func sessionBorn(ss *tls.SessionState) (time.Time, bool) {
	if len(ss.Extra) != 1 || len(ss.Extra[0]) != 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(ss.Extra[0]))), true
}

// take gets p a slot of class unless it holds one.
func (l *Listener) take(ctx context.Context, p *pending, class int) error {
	if p.held {
		return nil
	}
	if !l.gate.acquire(ctx, class, l.cfg.MaxWait) {
		// Counted before the close, so that whoever sees the close also
		// sees it counted.
		l.results.WithLabelValues(ResultShed).Inc()
		p.raw.Close()
		return errShed
	}
	p.held = true
	if l.cfg.onGrant != nil {
		l.cfg.onGrant(class)
	}
	return nil
}

// Classes of handshakes waiting for a slot, first served first.
const (
	// classEstablished resumes a session begun before the gate's current
	// surge: a node that was connected before the crowd arrived.
	classEstablished = iota
	// classResumed resumes a session begun since.
	classResumed
	// classFull is a full handshake.
	classFull
	classes
)

// surgeQuiet is how long the gate must have had a slot free for a surge to
// be over: sessions begun in one surge are not "established" in the next
// one that follows within it.
const surgeQuiet = 30 * time.Second

// gate is a counting semaphore whose waiters are served by class, then in
// order of arrival.
type gate struct {
	mu            sync.Mutex
	free, running int
	queues        [classes]list.List // of *waiter
	// surgeStart is when a handshake last found every slot taken after
	// surgeQuiet with one free; lastFull, when one last did.
	surgeStart, lastFull time.Time
}

type waiter struct {
	ch      chan struct{}
	granted bool // guarded by gate.mu
}

func newGate(n int) *gate { return &gate{free: n} }

func (g *gate) stats() (running, waiting int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range g.queues {
		waiting += g.queues[i].Len()
	}
	return g.running, waiting
}

// before reports whether t is before the current surge began (false when
// there is none).
func (g *gate) before(t time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.surgeStart.IsZero() && t.Before(g.surgeStart)
}

// acquire takes a slot, waiting up to wait (or until ctx is done); it
// reports whether it got one.
func (g *gate) acquire(ctx context.Context, class int, wait time.Duration) bool {
	g.mu.Lock()
	if g.free > 0 {
		g.free--
		g.running++
		g.mu.Unlock()
		return true
	}
	now := time.Now()
	if g.surgeStart.IsZero() || now.Sub(g.lastFull) > surgeQuiet {
		g.surgeStart = now
	}
	g.lastFull = now
	if wait <= 0 {
		g.mu.Unlock()
		return false
	}
	w := &waiter{ch: make(chan struct{})}
	q := &g.queues[class]
	e := q.PushBack(w)
	g.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.ch:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if w.granted { // granted as it timed out: keep it
		return true
	}
	q.Remove(e)
	return false
}

// release gives a slot back: to the first waiter of the first class with
// one, else to the free ones.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range g.queues {
		q := &g.queues[i]
		if e := q.Front(); e != nil {
			w := q.Remove(e).(*waiter)
			w.granted = true
			close(w.ch)
			return
		}
	}
	g.running--
	g.free++
}
