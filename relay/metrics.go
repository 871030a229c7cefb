package relay

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PrometheusTracer exports the relay's events as peercall_relay_* metrics.
type PrometheusTracer struct {
	sessions          prometheus.Gauge
	sessionsTotal     prometheus.Counter
	sessionDuration   prometheus.Histogram
	bytesRelayed      prometheus.Counter
	packetsRelayed    prometheus.Counter
	dropped           *prometheus.CounterVec
	refused           *prometheus.CounterVec
	credentialsIssued prometheus.Counter
	peerForbidden     *prometheus.CounterVec
	sessionsCut       *prometheus.CounterVec
}

// NewPrometheusTracer registers the relay metrics on reg and returns the
// tracer to pass in Options.Tracer. It fails when reg already holds them.
func NewPrometheusTracer(reg prometheus.Registerer) (*PrometheusTracer, error) {
	t := &PrometheusTracer{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peercall_relay_sessions", Help: "TURN allocations open now."}),
		sessionsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "peercall_relay_sessions_total", Help: "TURN allocations made."}),
		sessionDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "peercall_relay_session_duration_seconds", Help: "How long TURN allocations lasted.",
			Buckets: []float64{1, 10, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600}}),
		bytesRelayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "peercall_relay_bytes_relayed_total", Help: "Payload bytes relayed, both directions."}),
		packetsRelayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "peercall_relay_packets_relayed_total", Help: "Packets relayed, both directions."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peercall_relay_packets_dropped_total", Help: "Relayed packets dropped, by reason."}, []string{"reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peercall_relay_refusals_total", Help: "TURN and credential requests refused, by reason."}, []string{"reason"}),
		credentialsIssued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "peercall_relay_credentials_issued_total", Help: "TURN credentials issued to certified peers."}),
		peerForbidden: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peercall_relay_peer_forbidden_total",
			Help: "Permissions refused and datagrams dropped for a peer address that is not public unicast, by kind of address."}, []string{"kind"}),
		sessionsCut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peercall_relay_sessions_closed_total", Help: "TURN allocations the relay closed, by cause."}, []string{"cause"}),
	}
	for _, c := range []prometheus.Collector{t.sessions, t.sessionsTotal, t.sessionDuration, t.bytesRelayed,
		t.packetsRelayed, t.dropped, t.refused, t.credentialsIssued, t.peerForbidden, t.sessionsCut} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Every reason appears from the start, at zero.
	for _, r := range dropReasons {
		t.dropped.WithLabelValues(string(r))
	}
	for _, r := range refusalReasons {
		t.refused.WithLabelValues(string(r))
	}
	for _, k := range peerKinds {
		t.peerForbidden.WithLabelValues(string(k))
	}
	for _, c := range closeCauses {
		t.sessionsCut.WithLabelValues(string(c))
	}
	return t, nil
}

// SessionOpened implements MetricsTracer.
func (t *PrometheusTracer) SessionOpened(n int) {
	t.sessions.Set(float64(n))
	t.sessionsTotal.Inc()
}

// SessionClosed implements MetricsTracer.
func (t *PrometheusTracer) SessionClosed(n int, d time.Duration) {
	t.sessions.Set(float64(n))
	t.sessionDuration.Observe(d.Seconds())
}

// Relayed implements MetricsTracer.
func (t *PrometheusTracer) Relayed(n int) {
	t.bytesRelayed.Add(float64(n))
	t.packetsRelayed.Inc()
}

// Dropped implements MetricsTracer.
func (t *PrometheusTracer) Dropped(r Reason) { t.dropped.WithLabelValues(string(r)).Inc() }

// Refused implements MetricsTracer.
func (t *PrometheusTracer) Refused(r Reason) { t.refused.WithLabelValues(string(r)).Inc() }

// CredentialsIssued implements MetricsTracer.
func (t *PrometheusTracer) CredentialsIssued() { t.credentialsIssued.Inc() }

// PeerForbidden implements MetricsTracer.
func (t *PrometheusTracer) PeerForbidden(k PeerKind) {
	t.peerForbidden.WithLabelValues(string(k)).Inc()
}

// SessionCut implements MetricsTracer.
func (t *PrometheusTracer) SessionCut(c CloseCause) { t.sessionsCut.WithLabelValues(string(c)).Inc() }
