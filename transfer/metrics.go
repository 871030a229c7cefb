package transfer

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts a node's transfers: peercall_node_file_transfers_total
// {state} and peercall_node_file_refusals_total{reason}.
type Metrics struct {
	states, refusals *prometheus.CounterVec
}

// NewMetrics registers the counters with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		states: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "peercall_node_file_transfers_total",
			Help: "File transfers (both ways) that ended or stopped, by state: released, quarantined, failed, refused, interrupted."}, []string{"state"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "peercall_node_file_refusals_total",
			Help: "Incoming file offers this node refused, by reason (the rule, e.g. transfer.max_file_size, or certificate, blocked, name, busy, storage, quarantined, declined)."}, []string{"reason"}),
	}
	reg.MustRegister(m.states, m.refusals)
	return m
}

// Count counts ev (a Desk's OnEvent).
func (m *Metrics) Count(ev Event) {
	switch ev.State {
	case "released", "quarantined", "failed", "refused", "interrupted":
		m.states.WithLabelValues(ev.State).Inc()
	}
	if ev.State == "refused" && ev.Code != "" {
		m.refusals.WithLabelValues(ev.Code).Inc()
	}
}
