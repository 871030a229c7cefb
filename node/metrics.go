package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsServer serves /metrics.
type metricsServer struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

func startMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w (free the port or choose another address)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s := &metricsServer{ln: ln, done: make(chan struct{}),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server stopped", "err", err)
		}
	}()
	log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return s, nil
}

func (s *metricsServer) addr() string { return s.ln.Addr().String() }

func (s *metricsServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

// newRegistry makes the node's Prometheus registry (the relay's
// peercall_relay_* and the node's peercall_node_* metrics).
func (n *Node) newRegistry() {
	n.reg = n.opts.Relay.Registry
	if n.reg == nil {
		n.reg = prometheus.NewRegistry()
	}
	gauge := func(name, help string, f func() float64) {
		n.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("peercall_node_peers", "libp2p peers connected now.", func() float64 { return float64(len(n.host.Network().Peers())) })
	gauge("peercall_node_uptime_seconds", "Seconds since the node started.", func() float64 { return time.Since(n.started).Seconds() })
}

// serveMetrics serves the registry at Options.MetricsAddr when set, once
// every part of the node has registered its metrics.
func (n *Node) serveMetrics() error {
	n.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "peercall_node_calls", Help: "Calls going on now."},
		func() float64 { return float64(len(n.calls.Calls())) }))
	if n.opts.MetricsAddr == "" {
		return nil
	}
	var err error
	n.metrics, err = startMetrics(n.opts.MetricsAddr, n.reg, n.log)
	return err
}

// Registry is the Prometheus registry of the node and relay metrics.
func (n *Node) Registry() *prometheus.Registry { return n.reg }

// MetricsAddr is the bound metrics address ("" when not serving).
func (n *Node) MetricsAddr() string {
	if n.metrics == nil {
		return ""
	}
	return n.metrics.addr()
}
