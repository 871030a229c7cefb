package admission

import (
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/prometheus/client_golang/prometheus"
)

// Reasons of refusals (label reason of peercall_admission_refusals_total).
const (
	ReasonHelloTimeout      = "hello_timeout"       // no valid certificate within HelloTimeout
	ReasonBadCertificate    = "bad_certificate"     // a hello whose certificate does not verify
	ReasonRevoked           = "revoked_certificate" // a hello whose certificate is revoked
	ReasonSubnetFull        = "subnet_full"         // evicted: MaxUncertifiedPerSubnet exceeded
	ReasonUncertifiedFull   = "uncertified_full"    // evicted: MaxUncertified exceeded
	ReasonCooldown          = "cooldown"            // reconnected within Cooldown of an eviction
	ReasonSignalUncertified = "signal_uncertified"  // a signalling stream beyond UncertifiedSignal
	ReasonLimitConn         = "limit_conn"          // resource manager: a connection
	ReasonLimitPeer         = "limit_peer"          // resource manager: a connection of a peer at its limit
	ReasonLimitStream       = "limit_stream"        // resource manager: a stream
	ReasonLimitProtocol     = "limit_protocol"      // resource manager: a protocol's or a protocol's per-peer limit
	ReasonLimitService      = "limit_service"       // resource manager: a service's limit
	ReasonLimitMemory       = "limit_memory"        // resource manager: memory
)

var reasons = []string{ReasonHelloTimeout, ReasonBadCertificate, ReasonRevoked, ReasonSubnetFull, ReasonUncertifiedFull,
	ReasonCooldown, ReasonSignalUncertified, ReasonLimitConn, ReasonLimitPeer, ReasonLimitStream,
	ReasonLimitProtocol, ReasonLimitService, ReasonLimitMemory}

// logEvery is how often, at most, admission logs that it is refusing.
const logEvery = 10 * time.Second

type metrics struct {
	refusals *prometheus.CounterVec
	a        *Admission

	mu      sync.Mutex
	last    time.Time
	pending map[string]int
}

func newMetrics(a *Admission) *metrics {
	m := &metrics{a: a, pending: map[string]int{},
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "peercall_admission_refusals_total",
			Help: "Connections, streams and peers refused or disconnected by admission, by reason."}, []string{"reason"}),
	}
	for _, r := range reasons {
		m.refusals.WithLabelValues(r)
	}
	return m
}

func (m *metrics) register(reg prometheus.Registerer) error {
	if err := reg.Register(m.refusals); err != nil {
		return err
	}
	a := m.a
	gauge := func(state string, f func() float64) error {
		return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "peercall_admission_peers",
			Help: "Peers connected now, by whether they proved a certificate.", ConstLabels: prometheus.Labels{"state": state}}, f))
	}
	if err := gauge("certified", func() float64 {
		a.certMu.RLock()
		defer a.certMu.RUnlock()
		return float64(len(a.certs))
	}); err != nil {
		return err
	}
	return gauge("uncertified", func() float64 {
		a.mu.Lock()
		defer a.mu.Unlock()
		return float64(len(a.tracked))
	})
}

// refused counts a refusal and logs, at most every logEvery, that
// admission is refusing (the first at once, then with the counts since).
func (a *Admission) refused(reason string, p peer.ID) {
	m := a.m
	m.refusals.WithLabelValues(reason).Inc()
	m.mu.Lock()
	m.pending[reason]++
	now := time.Now()
	if now.Sub(m.last) < logEvery {
		m.mu.Unlock()
		return
	}
	counts := m.pending
	m.pending, m.last = map[string]int{}, now
	m.mu.Unlock()
	attrs := []any{"reason", reason}
	if p != "" {
		attrs = append(attrs, "peer", p)
	}
	for r, n := range counts {
		attrs = append(attrs, slog.Int("refused_"+r, n))
	}
	a.log.Info("admission is refusing peers and streams (an uncertified peer is over its budget, or a limit is reached)", attrs...)
}

// reporter is the resource manager's MetricsReporter: its blocks are
// refusals too.
type reporter struct{ a *Admission }

var _ rcmgr.MetricsReporter = reporter{}

func (reporter) AllowConn(network.Direction, bool)            {}
func (r reporter) BlockConn(network.Direction, bool)          { r.a.refused(ReasonLimitConn, "") }
func (reporter) AllowStream(peer.ID, network.Direction)       {}
func (r reporter) BlockStream(p peer.ID, _ network.Direction) { r.a.refused(ReasonLimitStream, p) }
func (reporter) AllowPeer(peer.ID)                            {}
func (r reporter) BlockPeer(p peer.ID)                        { r.a.refused(ReasonLimitPeer, p) }
func (reporter) AllowProtocol(protocol.ID)                    {}
func (r reporter) BlockProtocol(protocol.ID)                  { r.a.refused(ReasonLimitProtocol, "") }
func (r reporter) BlockProtocolPeer(_ protocol.ID, p peer.ID) { r.a.refused(ReasonLimitProtocol, p) }
func (reporter) AllowService(string)                          {}
func (r reporter) BlockService(string)                        { r.a.refused(ReasonLimitService, "") }
func (r reporter) BlockServicePeer(_ string, p peer.ID)       { r.a.refused(ReasonLimitService, p) }
func (reporter) AllowMemory(int)                              {}
func (r reporter) BlockMemory(int)                            { r.a.refused(ReasonLimitMemory, "") }
