package budget

import (
	"context"
	"sync"
	"time"
)

// Gate bounds the work running at once (the directory's argon2id hashes,
// its writes) and the requests waiting for a slot. A request that finds
// the queue full, or waits longer than maxWait, is shed: the caller
// answers 503 at once, at the cost of nothing it would have spent.
type Gate struct {
	slots   chan struct{}
	maxWait time.Duration

	mu       sync.Mutex
	waiting  int
	maxQueue int

	// OnChange, if not nil, is told the slots taken and the requests
	// waiting at every change (set it before the gate is used).
	OnChange func(running, waiting int)
}

// NewGate returns a gate of concurrent slots and a queue of queue waiting
// at most maxWait each; onChange, if not nil, is told the slots taken and
// the requests waiting at every change.
func NewGate(concurrent, queue int, maxWait time.Duration, onChange func(running, waiting int)) *Gate {
	return &Gate{slots: make(chan struct{}, concurrent), maxQueue: queue, maxWait: maxWait, OnChange: onChange}
}

// Acquire takes a slot; ok is false when the request is shed. A taken
// slot is given back with Release.
func (g *Gate) Acquire(ctx context.Context) (ok bool) {
	select {
	case g.slots <- struct{}{}:
		g.changed()
		return true
	default:
	}
	g.mu.Lock()
	if g.waiting >= g.maxQueue || g.maxWait == 0 {
		g.mu.Unlock()
		return false
	}
	g.waiting++
	g.mu.Unlock()
	g.changed()
	defer func() {
		g.mu.Lock()
		g.waiting--
		g.mu.Unlock()
		g.changed()
	}()
	t := time.NewTimer(g.maxWait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// Release gives a slot back.
func (g *Gate) Release() {
	<-g.slots
	g.changed()
}

func (g *Gate) changed() {
	if g.OnChange == nil {
		return
	}
	g.mu.Lock()
	w := g.waiting
	g.mu.Unlock()
	g.OnChange(len(g.slots), w)
}
