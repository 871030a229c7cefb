package ui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/chat"
	"github.com/peercall/peercall/contacts"
	"github.com/peercall/peercall/events"
)

//go:embed assets
var assets embed.FS

// Node is what the interface shows and drives: a running node.
type Node interface {
	// Status is the node's status, as `peercall status --json` prints it.
	Status() any
	Events() *events.Bus
	Contacts() *contacts.Book
	// Chat is the node's chat (nil on a node run for one call).
	Chat() *chat.Service
	Call(ctx context.Context, username string, o call.Options) (*call.Result, error)
	Answer(id string) error
	Reject(id string) error
	Hangup(ctx context.Context, id string) error
	// Search lists users whose name starts with prefix (the directory).
	Search(ctx context.Context, prefix string, limit int) ([]string, error)
	// Touch records the user's activity (auto-away).
	Touch()
	// AudioTest runs "meter" (the microphone's level) or "tone" (a test
	// tone) on device ("" the node's), publishing events.AudioLevel.
	AudioTest(ctx context.Context, what, device string) error
}

// Lifetimes of the interface's secrets.
const (
	tokenTTL    = 2 * time.Minute
	sessionTTL  = 12 * time.Hour
	maxTokens   = 16
	maxSessions = 64
	// cookiePrefix names the session cookie, followed by the port: cookies
	// are per host, not per port, and two nodes' interfaces on one machine
	// must not overwrite each other's session.
	cookiePrefix = "peercall_session_"
)

// Server serves the interface on one loopback listener.
type Server struct {
	n      Node
	log    *slog.Logger
	ln     net.Listener
	srv    *http.Server
	url    string
	cookie string
	secure bool // HTTPS: Secure cookies, https origins
	// hosts are the Host (and Origin host) values accepted.
	hosts map[string]bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	tokens   map[string]time.Time // one-time login tokens
	sessions map[string]*session
}

type session struct {
	csrf    string
	expires time.Time
}

// ErrNotLoopback: without TLS the interface listens on loopback addresses
// only.
var ErrNotLoopback = errors.New("without TLS the web interface listens on loopback addresses only")

// Listen serves n's interface on addr (host:port, a loopback IP) over
// plain HTTP.
func Listen(addr string, n Node, log *slog.Logger) (*Server, error) {
	return ListenConfig(Config{Addr: addr}, n, log)
}

// Config is where and how the interface listens.
type Config struct {
	// Addr is host:port; an address other than loopback needs TLS.
	Addr string
	// CertFile and KeyFile, both or neither, serve HTTPS (PEM files).
	CertFile, KeyFile string
}

// ListenConfig serves n's interface as c says.
func ListenConfig(c Config, n Node, log *slog.Logger) (*Server, error) {
	addr := c.Addr
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("ui.listen %q: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("ui.listen %q: the host must be an IP address", addr)
	}
	useTLS := c.CertFile != "" || c.KeyFile != ""
	if useTLS && (c.CertFile == "" || c.KeyFile == "") {
		return nil, errors.New("ui.tls_cert and ui.tls_key go together: set both, or neither")
	}
	if !ip.IsLoopback() && !useTLS {
		return nil, fmt.Errorf("ui.listen %q: %w; set ui.tls_cert and ui.tls_key, or use 127.0.0.1 and an SSH tunnel", addr, ErrNotLoopback)
	}
	var cert tls.Certificate
	if useTLS {
		if cert, err = tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err != nil {
			return nil, fmt.Errorf("web interface: load ui.tls_cert %s and ui.tls_key %s: %w", c.CertFile, c.KeyFile, err)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("web interface: listen on %s: %w; set another ui.listen port in config.toml or stop what uses it", addr, err)
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{n: n, log: log.With("part", "ui"), ln: ln, tokens: map[string]time.Time{}, sessions: map[string]*session{}}
	port := ln.Addr().(*net.TCPAddr).Port
	hp := net.JoinHostPort(ip.String(), fmt.Sprint(port))
	s.url = "http://" + hp
	if useTLS {
		s.url = "https://" + hp
		s.secure = true
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	s.cookie = fmt.Sprint(cookiePrefix, port)
	s.hosts = map[string]bool{hp: true}
	if ip.IsLoopback() && ip.Is4() {
		s.hosts[fmt.Sprintf("localhost:%d", port)] = true
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.srv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return s.ctx }}
	s.wg.Go(func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("web interface stopped", "err", err)
		}
	})
	return s, nil
}

// URL is the interface's base address.
func (s *Server) URL() string { return s.url }

// LoginURL returns the address with a new one-time token (valid for 2
// minutes) that turns into a session cookie when opened.
func (s *Server) LoginURL() string {
	tok := random()
	s.mu.Lock()
	now := time.Now()
	for t, exp := range s.tokens {
		if now.After(exp) {
			delete(s.tokens, t)
		}
	}
	for len(s.tokens) >= maxTokens {
		for t := range s.tokens {
			delete(s.tokens, t)
			break
		}
	}
	s.tokens[tok] = now.Add(tokenTTL)
	s.mu.Unlock()
	return s.url + "/login?token=" + tok
}

// Close stops serving, ends the event streams and the calls placed from
// the interface, and waits for them.
func (s *Server) Close() error {
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.wg.Wait()
	return err
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.HandleFunc("GET /login", s.login)
	mux.Handle("GET /static/", s.authed(http.StripPrefix("/static/", http.FileServerFS(static)).ServeHTTP))
	mux.HandleFunc("GET /{$}", s.authed(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	}))
	mux.HandleFunc("GET /api/state", s.authed(s.state))
	mux.HandleFunc("GET /api/events", s.authed(s.events))
	mux.HandleFunc("GET /api/search", s.authed(s.search))
	mux.HandleFunc("GET /api/chat", s.authed(s.chatState))
	mux.HandleFunc("POST /api/chat", s.mutating(s.chatAction))
	mux.HandleFunc("POST /api/contacts", s.mutating(s.contact))
	mux.HandleFunc("POST /api/presence", s.mutating(s.presence))
	mux.HandleFunc("POST /api/call", s.mutating(s.call))
	mux.HandleFunc("POST /api/answer", s.mutating(s.answer))
	mux.HandleFunc("POST /api/reject", s.mutating(s.answer))
	mux.HandleFunc("POST /api/hangup", s.mutating(s.answer))
	mux.HandleFunc("POST /api/audio", s.mutating(s.audioTest))
	mux.HandleFunc("POST /api/media", s.mutating(s.media))
	return s.guard(mux)
}

// guard refuses requests for another Host (DNS rebinding) or from another
// Origin (cross-site requests), and sets the security headers.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hosts[r.Host] {
			http.Error(w, "unknown host: open the interface at "+s.url, http.StatusMisdirectedRequest)
			return
		}
		scheme := "http://"
		if s.secure {
			scheme = "https://"
		}
		if o := r.Header.Get("Origin"); o != "" && o != scheme+r.Host {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
			http.Error(w, "cross-site request refused", http.StatusForbidden)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// login turns a one-time token into a session cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	s.mu.Lock()
	exp, ok := s.tokens[tok]
	delete(s.tokens, tok)
	var id string
	if ok && time.Now().Before(exp) {
		now := time.Now()
		for k, se := range s.sessions {
			if now.After(se.expires) {
				delete(s.sessions, k)
			}
		}
		for len(s.sessions) >= maxSessions {
			for k := range s.sessions {
				delete(s.sessions, k)
				break
			}
		}
		id = random()
		s.sessions[id] = &session{csrf: random(), expires: now.Add(sessionTTL)}
	}
	s.mu.Unlock()
	if id == "" {
		http.Error(w, "this login link is used up or expired; run `peercall ui` for a new one", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second), Secure: s.secure})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) session(r *http.Request) *session {
	c, err := r.Cookie(s.cookie)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.sessions[c.Value]
	if se == nil || time.Now().After(se.expires) {
		return nil
	}
	return se
}

type sessionKey struct{}

// authed requires the session cookie.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se := s.session(r)
		if se == nil {
			http.Error(w, "no session: run `peercall ui` and open the link it prints", http.StatusUnauthorized)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, se)))
	}
}

// mutating requires the session, its CSRF token in X-CSRF-Token, and a JSON
// body; it counts as the user's activity.
func (s *Server) mutating(h http.HandlerFunc) http.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request) {
		se := r.Context().Value(sessionKey{}).(*session)
		got := r.Header.Get("X-CSRF-Token")
		if subtle.ConstantTimeCompare([]byte(got), []byte(se.csrf)) != 1 {
			http.Error(w, "missing or wrong CSRF token; reload the page", http.StatusForbidden)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "the body must be application/json", http.StatusUnsupportedMediaType)
			return
		}
		s.n.Touch()
		h(w, r)
	})
}
