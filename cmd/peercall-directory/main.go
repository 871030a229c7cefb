// Command peercall-directory runs the peercall directory server: the HTTPS
// API that registers usernames, checks passwords and signs identity
// certificates.
//
//	peercall-directory [--config directory.toml] [--data DIR] [--listen ADDR]
//	                   [--db URL] [--metrics ADDR] [--tls-cert FILE --tls-key FILE]
//	                   [--insecure-http] [--trusted-proxy CIDR]... [LIMIT FLAGS]
//	peercall-directory user disable|enable|revoke NAME [--config F] [--data DIR] [--db URL]
//
// The first start creates DIR/directory.key, the directory's ed25519 signing
// key, and prints its public key: the key clients pin (peercall init
// --directory-key). Unless an operator certificate is given, the server
// serves TLS with a self-signed certificate made for that same key.
//
// Every setting is a flag and a key of the same name (with _ for -) in the
// TOML file --config names; flags win over the file, unknown keys are an
// error, and a setting out of range stops the start naming it. -h lists
// them with their defaults; docs/operator.md explains them.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory/connlimit"
	"github.com/peercall/peercall/directory/dialback"
	"github.com/peercall/peercall/directory/handshake"
	"github.com/peercall/peercall/directory/server"
	"github.com/peercall/peercall/directory/store"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// parseFlags reads the settings of the command line (and its --config
// file).
func parseFlags(args []string, stderr io.Writer) (*settings, error) {
	return loadSettings(args, stderr)
}

// isLoopback reports whether a listen address names a loopback host.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "user" {
		return runUser(ctx, args[1:], stdout, stderr)
	}
	o, err := loadSettings(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "peercall-directory: %v\n", err)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := serve(ctx, o, stdout, log); err != nil {
		log.Error("directory stopped", "err", err)
		fmt.Fprintf(stderr, "peercall-directory: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// serve runs the directory until ctx is done, then shuts down gracefully.
func serve(ctx context.Context, o *settings, stdout io.Writer, log *slog.Logger) error {
	o.logEffective(log)
	if err := os.MkdirAll(o.Data, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w; choose another with --data", err)
	}
	keyPath := filepath.Join(o.Data, "directory.key")
	key, created, err := crypto.LoadOrCreateKey(keyPath)
	if err != nil {
		return fmt.Errorf("directory key: %w", err)
	}
	pub := crypto.EncodePublicKey(key.Public().(ed25519.PublicKey))
	if created {
		log.Info("created the directory signing key; clients pin its public key", "file", keyPath, "key", pub)
	} else {
		log.Info("loaded the directory signing key", "file", keyPath, "key", pub)
	}
	fmt.Fprintf(stdout, "directory key: %s\n", pub)

	st, err := store.OpenWith(ctx, o.DB, store.Options{SkipIntegrityCheck: !o.IntegrityCheck})
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer st.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg := o.serverConfig()
	cfg.Store, cfg.Key, cfg.Logger, cfg.Registry = st, key, log, reg
	if o.DialBack {
		prover, err := dialback.New()
		if err != nil {
			return err
		}
		defer prover.Close()
		cfg.Prover = prover
	}
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()

	tcp, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w; choose another address with --listen", o.Listen, err)
	}
	cc := o.connConfig()
	cc.Registerer = reg
	limited, err := connlimit.New(tcp, cc)
	if err != nil {
		tcp.Close()
		return err
	}
	var ln net.Listener = limited
	scheme := "https"
	if o.InsecureHTTP {
		scheme = "http"
	} else {
		cert, err := tlsCertificate(o, key)
		if err != nil {
			ln.Close()
			return err
		}
		hc := o.handshakeConfig()
		hc.Registerer = reg
		hs, err := handshake.New(ln, server.TLSConfig(cert), hc)
		if err != nil {
			ln.Close()
			return err
		}
		ln = hs
	}
	api := o.httpServer(srv.Handler(), log)
	api.ConnState = limited.ConnState
	servers := []*http.Server{api}
	errc := make(chan error, 2)
	go func() { errc <- api.Serve(ln) }()
	log.Info("directory listening", "url", scheme+"://"+ln.Addr().String(), "db", redactDSN(o.DB))
	fmt.Fprintf(stdout, "listening on %s://%s\n", scheme, ln.Addr())

	if o.Metrics != "" {
		mln, err := net.Listen("tcp", o.Metrics)
		if err != nil {
			api.Close()
			return fmt.Errorf("listen on %s for metrics: %w; choose another --metrics address", o.Metrics, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		ms := o.httpServer(mux, log)
		servers = append(servers, ms)
		go func() { errc <- ms.Serve(mln) }()
		log.Info("metrics listening", "url", "http://"+mln.Addr().String()+"/metrics")
		fmt.Fprintf(stdout, "metrics on http://%s/metrics\n", mln.Addr())
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(shutdownCtx); err != nil {
			s.Close()
		}
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	log.Info("stopped")
	return nil
}

// tlsCertificate is the operator's certificate, or a self-signed one for
// the directory key.
func tlsCertificate(o *settings, key ed25519.PrivateKey) (tls.Certificate, error) {
	if o.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return cert, fmt.Errorf("load --tls-cert/--tls-key: %w", err)
		}
		return cert, nil
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, _, err := net.SplitHostPort(o.Listen); err == nil && h != "" && h != "localhost" {
		hosts = append(hosts, h)
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	return server.SelfSignedTLS(key, hosts)
}

// httpServer bounds every phase of a connection (the TLS handshake takes
// the least of the read and write timeouts).
func (o *settings) httpServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// redactDSN hides a database password in logs.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
