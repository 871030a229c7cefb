package server

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// hashGate bounds the argon2id hashes running at once and the requests
// waiting for one. A request that finds the queue full, or waits longer
// than maxWait, is shed: answered 503 at once, costing no hash memory.
type hashGate struct {
	slots   chan struct{}
	maxWait time.Duration

	mu       sync.Mutex
	waiting  int
	maxQueue int

	onChange func(running, waiting int)
}

func newHashGate(concurrent, queue int, maxWait time.Duration, onChange func(running, waiting int)) *hashGate {
	return &hashGate{slots: make(chan struct{}, concurrent), maxQueue: queue, maxWait: maxWait, onChange: onChange}
}

// acquire takes a hash slot; ok is false when the request is shed. A taken
// slot is given back with release.
func (g *hashGate) acquire(ctx context.Context) (ok bool) {
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

func (g *hashGate) release() {
	<-g.slots
	g.changed()
}

func (g *hashGate) changed() {
	if g.onChange == nil {
		return
	}
	g.mu.Lock()
	w := g.waiting
	g.mu.Unlock()
	g.onChange(len(g.slots), w)
}

// jitter returns a random duration in [lo, hi], whole seconds.
func jitter(lo, hi time.Duration) time.Duration {
	l, h := int64(lo/time.Second), int64(hi/time.Second)
	if h <= l {
		return time.Duration(l) * time.Second
	}
	return time.Duration(l+rand.Int64N(h-l+1)) * time.Second
}
