package relay

import "sync"

// relayPorts is the set of ports of open relay sockets: the only ports of
// the super-node's own addresses that relayed datagrams may reach.
type relayPorts struct {
	mu    sync.RWMutex
	ports map[int]int // port -> open sockets on it
}

func (p *relayPorts) add(port int) {
	p.mu.Lock()
	if p.ports == nil {
		p.ports = map[int]int{}
	}
	p.ports[port]++
	p.mu.Unlock()
}

func (p *relayPorts) remove(port int) {
	p.mu.Lock()
	if p.ports[port]--; p.ports[port] <= 0 {
		delete(p.ports, port)
	}
	p.mu.Unlock()
}

func (p *relayPorts) has(port int) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.ports[port] > 0
}
