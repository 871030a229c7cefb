package budget

import (
	"container/heap"
	"sync"
	"time"
)

// budget is a token bucket: level units at time at, refilling continuously.
type budget struct {
	level float64
	at    time.Time
}

// levelAt is the bucket's level at now, refilled at rate units per second
// up to burst.
func (b budget) levelAt(now time.Time, rate, burst float64) float64 {
	d := now.Sub(b.at).Seconds()
	if d < 0 {
		d = 0
	}
	return min(burst, b.level+d*rate)
}

// Table holds one budget per key (a username, a client address, a
// username and machine key), at most max of them. A key that is not in
// the table has its whole budget, so only spent budgets are kept, and an
// entry leaves the table only once its budget is full again: a flood of
// new keys can never evict (and so reset) a key whose budget it spent.
// When the table is full of spent budgets, new keys share one overflow
// budget of the same size: the directory then fails closed for keys it
// has no room for rather than open for the ones it holds.
type Table struct {
	mu         sync.Mutex
	rate       float64 // units per second
	burst      float64
	max        int
	byKey      map[string]*budgetEntry
	byFull     fullHeap // entries by the time their budget is full again
	overflow   budget
	onOverflow func() // counts requests charged to the overflow budget
}

type budgetEntry struct {
	key    string
	b      budget
	fullAt time.Time
	index  int // in byFull
}

// New returns a table that allows units per window per key, keeping at most max keys.
func New(units int, window time.Duration, max int, onOverflow func()) *Table {
	burst := float64(units)
	return &Table{
		rate:       burst / window.Seconds(),
		burst:      burst,
		max:        max,
		byKey:      map[string]*budgetEntry{},
		overflow:   budget{level: burst},
		onOverflow: onOverflow,
	}
}

// Ticket is units taken from one key's budget, which Refund gives back.
type Ticket struct {
	t        *Table
	key      string
	overflow bool
}

// Take spends cost units of key's budget when it holds them; otherwise it
// changes nothing and returns the wait until it will.
func (t *Table) Take(key string, now time.Time, cost float64) (Ticket, time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byKey[key]
	overflow := false
	b := budget{level: t.burst, at: now}
	switch {
	case e != nil:
		b = e.b
	default:
		t.dropFull(now)
		if len(t.byKey) >= t.max {
			overflow, b = true, t.overflow
			if t.onOverflow != nil {
				t.onOverflow()
			}
		}
	}
	level := b.levelAt(now, t.rate, t.burst)
	if level < cost {
		if cost > t.burst {
			return Ticket{}, time.Hour, false // never affordable (validate prevents it)
		}
		return Ticket{}, time.Duration((cost - level) / t.rate * float64(time.Second)), false
	}
	b = budget{level: level - cost, at: now}
	if overflow {
		t.overflow = b
		return Ticket{t: t, key: key, overflow: true}, 0, true
	}
	if e == nil {
		e = &budgetEntry{key: key}
		t.byKey[key] = e
		heap.Push(&t.byFull, e)
	}
	t.set(e, b)
	return Ticket{t: t, key: key}, 0, true
}

// set stores b in e and files e by when it is full again.
func (t *Table) set(e *budgetEntry, b budget) {
	e.b = b
	e.fullAt = b.at.Add(time.Duration((t.burst - b.level) / t.rate * float64(time.Second)))
	heap.Fix(&t.byFull, e.index)
}

// dropFull forgets the entries whose budget is full again at now.
func (t *Table) dropFull(now time.Time) {
	for len(t.byFull) > 0 && !t.byFull[0].fullAt.After(now) {
		e := heap.Pop(&t.byFull).(*budgetEntry)
		delete(t.byKey, e.key)
	}
}

// Refund gives units back to the Ticket's budget (up to its size).
func (tk Ticket) Refund(now time.Time, units float64) {
	t := tk.t
	if t == nil || units <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tk.overflow {
		t.overflow = budget{level: min(t.burst, t.overflow.levelAt(now, t.rate, t.burst)+units), at: now}
		return
	}
	e := t.byKey[tk.key]
	if e == nil {
		return // full again and forgotten meanwhile
	}
	level := e.b.levelAt(now, t.rate, t.burst) + units
	if level >= t.burst {
		heap.Remove(&t.byFull, e.index)
		delete(t.byKey, e.key)
		return
	}
	t.set(e, budget{level: level, at: now})
}

// Short reports, without spending anything, whether key holds a budget
// of its own that is below cost at now, and the wait until it is not: a
// server can refuse such a key before checking what else the request
// proves, while only requests that prove it spend the budget.
func (t *Table) Short(key string, now time.Time, cost float64) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byKey[key]
	if e == nil {
		return 0, false
	}
	level := e.b.levelAt(now, t.rate, t.burst)
	if level >= cost {
		return 0, false
	}
	return time.Duration((cost - level) / t.rate * float64(time.Second)), true
}

// Remaining is the budget key has at now.
func (t *Table) Remaining(key string, now time.Time) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byKey[key]; e != nil {
		return e.b.levelAt(now, t.rate, t.burst)
	}
	if len(t.byKey) >= t.max {
		return t.overflow.levelAt(now, t.rate, t.burst)
	}
	return t.burst
}

// Has reports whether key's budget is held (spent).
func (t *Table) Has(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byKey[key] != nil
}

// Len is the number of keys held.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byKey)
}

// fullHeap orders budget entries by fullAt, soonest first.
type fullHeap []*budgetEntry

func (h fullHeap) Len() int           { return len(h) }
func (h fullHeap) Less(i, j int) bool { return h[i].fullAt.Before(h[j].fullAt) }
func (h fullHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *fullHeap) Push(x any) {
	e := x.(*budgetEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *fullHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
