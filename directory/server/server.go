package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/budget"
	"github.com/peercall/peercall/directory/store"
)

// Server answers the directory's HTTP API. Its work happens in the handlers'
// goroutines; the goroutines it starts (pruning old sightings, checking the
// store's integrity, rebuilding the revocation list, dialling super-nodes
// back) end at Close.
type Server struct {
	cfg     Config
	store   store.Store
	key     ed25519.PrivateKey
	pubText string
	log     *slog.Logger
	metrics *metrics
	mux     *http.ServeMux
	handler http.Handler

	hashes         *budget.Gate
	writes         *budget.Gate // check-ins, renewals, revocations (writeGate.go)
	loginsByName   *budget.Table
	loginsByAddr   *budget.Table
	loginsByDevice *budget.Table
	registers      *budget.Table
	checkins       *budget.Table // by node key
	renewals       *budget.Table // renewals and revocations, by node key
	revs           revocationList
	super          *superNodes // nil without a Prover
	health         healthState

	// dummyHash is verified for logins of unknown users, so that they
	// cost what a known user's login costs.
	dummyHash string

	closeOnce sync.Once
	closed    chan struct{}
	cancel    context.CancelFunc // stops the pruning goroutine
	done      sync.WaitGroup
}

// New validates cfg and returns a Server. It computes one password hash (the
// stand-in for unknown users), so it takes some tens of milliseconds.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("server: register metrics: %w", err)
	}
	dummy, err := crypto.HashPassword(rand.Text(), cfg.Password)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	l := cfg.Limits
	table := func(units int, window time.Duration, name string) *budget.Table {
		t := budget.New(units, window, l.MaxTrackedKeys, m.overflow.WithLabelValues(name).Inc)
		cfg.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "peercall_directory_throttle_keys",
			Help:        "Spent budgets a throttling table holds, by table (at most max_tracked_keys each).",
			ConstLabels: prometheus.Labels{"table": name},
		}, func() float64 { return float64(t.Len()) }))
		return t
	}
	s := &Server{
		cfg:            cfg,
		store:          cfg.Store,
		key:            cfg.Key,
		pubText:        crypto.EncodePublicKey(cfg.Key.Public().(ed25519.PublicKey)),
		log:            cfg.Logger,
		metrics:        m,
		mux:            http.NewServeMux(),
		loginsByName:   table(l.LoginFailuresPerName*failCost, l.LoginWindow, "name"),
		loginsByAddr:   table(l.LoginFailuresPerAddr*failCost, l.LoginWindow, "addr"),
		loginsByDevice: table(l.LoginFailuresPerDevice*failCost, l.LoginWindow, "device"),
		registers:      table(l.RegistrationsPerAddr, l.RegistrationWindow, "register"),
		checkins:       table(l.CheckinsPerKey, l.CheckinWindow, "checkin"),
		renewals:       table(l.RenewalsPerKey, l.RenewalWindow, "renew"),
		dummyHash:      dummy,
		closed:         make(chan struct{}),
	}
	s.hashes = budget.NewGate(l.MaxConcurrentHashes, l.MaxHashQueue, l.MaxHashWait, func(running, waiting int) {
		m.hashing.Set(float64(running))
		m.hashWaiting.Set(float64(waiting))
	})
	s.writes = budget.NewGate(max(l.MaxConcurrentWrites, 1), l.MaxWriteQueue, l.MaxWriteWait, func(running, waiting int) {
		m.writing.Set(float64(running))
		m.writeWaiting.Set(float64(waiting))
	})
	s.routes()
	s.handler = s.instrument(s.mux)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if p, ok := cfg.Store.(store.SightingsPruner); ok && cfg.PruneInterval > 0 {
		s.done.Go(func() { s.prune(ctx, p, cfg.PruneInterval) })
	}
	if c, ok := cfg.Store.(store.IntegrityChecker); ok && cfg.IntegrityInterval > 0 {
		s.done.Go(func() { s.checkIntegrity(ctx, c, cfg.IntegrityInterval) })
	}
	if err := s.rebuildRevocations(ctx); err != nil {
		s.log.Warn("build the revocation list; retried every refresh and at the first request", "err", err)
	}
	s.done.Go(func() { s.refreshRevocations(ctx, cfg.RevocationRefresh) })
	if cfg.Prover != nil {
		s.super = newSuperNodes(s, cfg.Prover)
		s.super.start(ctx, &s.done)
	}
	p := cfg.Password
	s.log.Debug("directory server configured", "key", s.pubText, "cert_validity", cfg.CertValidity, "checkin_ttl", cfg.CheckinTTL, "seen_window", cfg.SeenWindow,
		"argon2id", fmt.Sprintf("m=%dKiB,t=%d,p=%d", p.Memory, p.Time, p.Threads), "limits", fmt.Sprintf("%+v", l),
		"dial_back", cfg.Prover != nil, "min_free_disk", cfg.MinFreeDisk, "integrity_interval", cfg.IntegrityInterval)
	return s, nil
}

// routes registers the API of directory/api.go.
func (s *Server) routes() {
	p := directory.APIPrefix
	s.mux.Handle("POST "+p+"/register", s.api(s.register))
	s.mux.Handle("POST "+p+"/login", s.api(s.login))
	s.mux.Handle("GET "+p+"/users/{name}", s.api(s.user))
	s.mux.Handle("GET "+p+"/users", s.api(s.search))
	s.mux.Handle("GET "+p+"/bootstrap", s.api(s.bootstrap))
	s.mux.Handle("GET "+p+"/key", s.api(s.publicKey))
	s.mux.Handle("POST "+p+"/checkin", s.api(s.gateWrite(s.checkin)))
	s.mux.Handle("POST "+p+"/renew", s.api(s.gateWrite(s.renew)))
	s.mux.Handle("POST "+p+"/revoke", s.api(s.gateWrite(s.revokeOwn)))
	s.mux.Handle("POST "+p+"/logout", s.api(s.logout))
	s.mux.Handle("POST "+p+"/passwd", s.api(s.passwd))
	s.mux.Handle("GET "+p+"/revocations", s.api(s.revocations))
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
}

// Handler is the HTTP handler of the whole API, /healthz and /metrics.
func (s *Server) Handler() http.Handler { return s.handler }

// PublicKey is the directory key clients pin, in crypto.EncodePublicKey form.
func (s *Server) PublicKey() string { return s.pubText }

// Close stops the server answering (later requests get 503) and stops and
// waits for its goroutines (a dial-back under way is cancelled). It does not close the Store (the
// caller's) and is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.cancel()
	})
	s.done.Wait()
	return nil
}

// api adapts a handler that returns its answer or an apiError.
func (s *Server) api(h func(w http.ResponseWriter, r *http.Request) (status int, body any, err *apiError)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-s.closed:
			writeError(w, &apiError{status: http.StatusServiceUnavailable, code: directory.CodeOverloaded,
				message: "the directory is shutting down; try again shortly", retryAfter: jitter(s.cfg.Limits.RetryAfterMin, s.cfg.Limits.RetryAfterMax)})
			return
		default:
		}
		status, body, err := h(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, status, body)
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// bufferedWriter captures what the mux's own 404/405 handlers write.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header         { return b.header }
func (b *bufferedWriter) WriteHeader(code int)        { b.status = code }
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.body.Write(p) }

// instrument counts requests by route and status, turns the mux's plain-text
// 404 and 405 answers into ErrorResponse bodies, and turns panics into 500s.
func (s *Server) instrument(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		_, pattern := mux.Handler(r)
		route := pattern
		if route == "" {
			route = "unmatched"
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "route", route, "panic", v)
				if rec.status == 0 {
					writeError(rec, internalError())
				}
			}
			s.metrics.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		}()
		if pattern != "" {
			mux.ServeHTTP(rec, r)
			return
		}
		buf := &bufferedWriter{header: http.Header{}}
		mux.ServeHTTP(buf, r)
		if buf.status == 0 {
			buf.status = http.StatusOK
		}
		switch {
		case buf.status == http.StatusNotFound:
			writeError(rec, errorf(http.StatusNotFound, directory.CodeNotFound,
				"no such API endpoint %s %s; see the API list in the peercall documentation", r.Method, r.URL.Path))
		case buf.status == http.StatusMethodNotAllowed:
			allow := buf.header.Get("Allow")
			rec.Header().Set("Allow", allow)
			writeError(rec, errorf(http.StatusMethodNotAllowed, directory.CodeBadRequest,
				"method %s is not allowed on %s; use %s", r.Method, r.URL.Path, allow))
		case buf.status >= 400:
			writeError(rec, errorf(buf.status, directory.CodeBadRequest, "%s", bytes.TrimSpace(buf.body.Bytes())))
		default: // redirects of unclean paths
			for k, v := range buf.header {
				rec.Header()[k] = v
			}
			rec.WriteHeader(buf.status)
			rec.Write(buf.body.Bytes())
		}
	})
}

// now is the server's clock.
func (s *Server) now() time.Time { return s.cfg.Now() }
