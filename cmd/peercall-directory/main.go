// Command peercall-directory runs the peercall directory server: the HTTPS
// API that registers usernames, checks passwords and signs identity
// certificates.
//
//	peercall-directory [--data DIR] [--listen ADDR] [--db URL] [--metrics ADDR]
//	                   [--tls-cert FILE --tls-key FILE] [--insecure-http]
//	                   [--trusted-proxy CIDR]...
//
// The first start creates DIR/directory.key, the directory's ed25519 signing
// key, and prints its public key: the key clients pin (peercall init
// --directory-key). Unless an operator certificate is given, the server
// serves TLS with a self-signed certificate made for that same key.
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
	"net/netip"
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

// options are the command line.
type options struct {
	data, listen, db, metrics string
	tlsCert, tlsKey           string
	insecureHTTP              bool
	trustedProxies            []netip.Prefix
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("peercall-directory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.data, "data", "/var/lib/peercall-directory", "data `DIR`: holds directory.key and the default SQLite database")
	fs.StringVar(&o.listen, "listen", ":7443", "`ADDR` (host:port) of the HTTPS API")
	fs.StringVar(&o.db, "db", "", "database `URL`: sqlite://FILE or postgres://USER:PASSWORD@HOST/DB (default sqlite://DIR/directory.db)")
	fs.StringVar(&o.metrics, "metrics", "", "optional separate `ADDR` serving /metrics over plain HTTP (/metrics is also on the API listener)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "operator TLS certificate `FILE` (PEM) instead of the self-signed one")
	fs.StringVar(&o.tlsKey, "tls-key", "", "operator TLS key `FILE` (PEM), with --tls-cert")
	fs.BoolVar(&o.insecureHTTP, "insecure-http", false, "serve plain HTTP (only allowed when --listen is a loopback address; for tests)")
	fs.Func("trusted-proxy", "`CIDR` of a reverse proxy in front of the directory whose X-Forwarded-For is believed for login throttling (repeatable)", func(v string) error {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return fmt.Errorf("%q is not an address or CIDR such as 10.0.0.0/8: %w", v, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		o.trustedProxies = append(o.trustedProxies, p.Masked())
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q; peercall-directory takes only flags (see -h)", fs.Arg(0))
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return o, errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
	if o.insecureHTTP && o.tlsCert != "" {
		return o, errors.New("--insecure-http and --tls-cert contradict each other: give one")
	}
	if o.insecureHTTP && !isLoopback(o.listen) {
		return o, fmt.Errorf("--insecure-http is refused with --listen %q: plain HTTP would send passwords in clear over the network; listen on a loopback address such as 127.0.0.1:7443, or drop --insecure-http", o.listen)
	}
	if o.db == "" {
		o.db = "sqlite://" + filepath.Join(o.data, "directory.db")
	}
	return o, nil
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
	o, err := parseFlags(args, stderr)
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
func serve(ctx context.Context, o options, stdout io.Writer, log *slog.Logger) error {
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w; choose another with --data", err)
	}
	keyPath := filepath.Join(o.data, "directory.key")
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

	st, err := store.Open(ctx, o.db)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer st.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := server.New(server.Config{Store: st, Key: key, Logger: log, Registry: reg, TrustedProxies: o.trustedProxies})
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w; choose another address with --listen", o.listen, err)
	}
	scheme := "https"
	if o.insecureHTTP {
		scheme = "http"
	} else {
		cert, err := tlsCertificate(o, key)
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, server.TLSConfig(cert))
	}
	api := newHTTPServer(srv.Handler(), log)
	servers := []*http.Server{api}
	errc := make(chan error, 2)
	go func() { errc <- api.Serve(ln) }()
	log.Info("directory listening", "url", scheme+"://"+ln.Addr().String(), "db", redactDSN(o.db))
	fmt.Fprintf(stdout, "listening on %s://%s\n", scheme, ln.Addr())

	if o.metrics != "" {
		mln, err := net.Listen("tcp", o.metrics)
		if err != nil {
			api.Close()
			return fmt.Errorf("listen on %s for metrics: %w; choose another --metrics address", o.metrics, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		ms := newHTTPServer(mux, log)
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
func tlsCertificate(o options, key ed25519.PrivateKey) (tls.Certificate, error) {
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return cert, fmt.Errorf("load --tls-cert/--tls-key: %w", err)
		}
		return cert, nil
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, _, err := net.SplitHostPort(o.listen); err == nil && h != "" && h != "localhost" {
		hosts = append(hosts, h)
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	return server.SelfSignedTLS(key, hosts)
}

// newHTTPServer bounds every phase of a connection.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
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
