package supernode

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peercall/peercall/reach"
)

// registerMetrics adds the super-node basics next to the relay's
// peercall_relay_* metrics: role, reachability, known super-nodes.
func (m *Manager) registerMetrics() {
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
		if m.reachState == reach.StatePublic {
			return 1
		}
		return 0
	})
	gauge("peercall_node_known_super_nodes", "Super-nodes this node found and measured.", func() float64 {
		m.finder.mu.Lock()
		defer m.finder.mu.Unlock()
		return float64(len(m.finder.list))
	})
}
