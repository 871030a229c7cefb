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

// registerNodeMetrics adds the node basics next to the relay's
// peercall_relay_* metrics: role, reachability, connected peers, calls.
func (m *RelayManager) registerNodeMetrics(calls func() int) {
	gauge := func(name, help string, f func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("peercall_node_super_node", "1 while this node relays for others (super-node), else 0.", func() float64 {
		if m.Promoted() {
			return 1
		}
		return 0
	})
	gauge("peercall_node_reachable", "1 while a dial-back proved this node publicly reachable, else 0.", func() float64 {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.reachState == ReachabilityPublic {
			return 1
		}
		return 0
	})
	gauge("peercall_node_peers", "libp2p peers connected now.", func() float64 { return float64(len(m.h.Network().Peers())) })
	gauge("peercall_node_uptime_seconds", "Seconds since the node started.", func() float64 { return time.Since(m.started).Seconds() })
	if calls != nil {
		gauge("peercall_node_calls", "Calls going on now.", func() float64 { return float64(calls()) })
	}
	gauge("peercall_node_known_super_nodes", "Super-nodes this node found and measured.", func() float64 {
		m.client.mu.Lock()
		defer m.client.mu.Unlock()
		return float64(len(m.client.list))
	})
}

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
