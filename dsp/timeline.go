package dsp

import "time"

// timeline maps a device's timestamps to sample positions on the chain's
// common clock (48 kHz since the chain's epoch). A device's frames follow
// each other without gaps, so the position of the next frame is the end of
// the previous one; its timestamp only steers: a small difference (clock
// drift between the sound card and the system clock, scheduling noise in
// the timestamps) is slewed away one sample per 10 ms frame, a large one
// (an underrun, a stalled device) is a jump to the new position.
type timeline struct {
	next    int64 // position of the next frame; valid once started
	started bool
	resyncs uint64
}

// Steering thresholds, in samples.
const (
	slewAbove = 48      // 1 ms: below this the timestamps are noise
	jumpAbove = 20 * 48 // 20 ms: beyond this the device skipped
)

// place returns the position of a frame of n samples stamped at (the
// stamp's position) and advances.
func (t *timeline) place(at int64, n int) int64 {
	if !t.started {
		t.next, t.started = at, true
	}
	switch d := at - t.next; {
	case d > jumpAbove || d < -jumpAbove:
		t.next = at
		t.resyncs++
	case d > slewAbove:
		t.next++
	case d < -slewAbove:
		t.next--
	}
	p := t.next
	t.next += int64(n)
	return p
}

// clock turns timestamps into positions.
type clock struct {
	epoch time.Time
	set   bool
}

func (c *clock) pos(t time.Time) int64 {
	if !c.set {
		c.epoch, c.set = t, true
	}
	return int64(t.Sub(c.epoch)) * 48 / int64(time.Millisecond)
}

// ring holds the rendered samples by position: a position never rendered
// (a gap, the future, or older than the ring) reads as silence.
type ring struct {
	buf   []int16
	start int64 // oldest position held
	end   int64 // one past the newest
}

const ringSize = 1 << 17 // 2.7 s at 48 kHz: the delay search window and its history

func newRing() *ring { return &ring{buf: make([]int16, ringSize)} }

func idx(p int64) int64 { return p & (ringSize - 1) }

// write stores x at position p.
func (r *ring) write(p int64, x []int16) {
	n := int64(len(x))
	switch {
	case r.end == r.start: // empty
		r.start, r.end = p, p
	case p > r.end: // a gap: silence in between
		r.fill(r.end, min(p, r.end+ringSize), nil)
	case p < r.start:
		if p+n <= r.start {
			return // older than what is kept
		}
		x, p = x[r.start-p:], r.start
		n = int64(len(x))
	}
	if n > ringSize {
		x, p = x[n-ringSize:], p+n-ringSize
		n = ringSize
	}
	r.fill(p, p+n, x)
	r.end = max(r.end, p+n)
	r.start = max(r.start, r.end-ringSize)
}

// fill stores x (zeros when nil) at positions [from, to), at most
// ringSize of them, with copies of the ring's (at most two) contiguous
// runs rather than a loop over samples.
func (r *ring) fill(from, to int64, x []int16) {
	for from < to {
		i := idx(from)
		run := min(to-from, ringSize-i)
		if x == nil {
			clear(r.buf[i : i+run])
		} else {
			copy(r.buf[i:i+run], x[:run])
			x = x[run:]
		}
		from += run
	}
}

// read fills dst with the samples from position p: silence where nothing
// is held.
func (r *ring) read(p int64, dst []int16) {
	n := int64(len(dst))
	lo, hi := max(p, r.start), min(p+n, r.end)
	if lo >= hi {
		clear(dst)
		return
	}
	clear(dst[:lo-p])
	clear(dst[hi-p:])
	out := dst[lo-p : hi-p]
	for lo < hi {
		i := idx(lo)
		run := min(hi-lo, ringSize-i)
		copy(out, r.buf[i:i+run])
		out = out[run:]
		lo += run
	}
}
