package supernode

import "time"

// NetworkChanged makes the promotion loop prove the node's reachability
// again at once (its addresses moved: the old proof says nothing about
// the new ones), and so also renew or drop its circuit reservation and,
// when promoted, its provider record. It does not wait.
func (m *Manager) NetworkChanged() {
	m.mu.Lock()
	m.reachAt = time.Time{}
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}
