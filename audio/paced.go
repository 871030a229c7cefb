package audio

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// maxLagFrames is how far (in frames) a paced device lets its user fall behind
// before it gives up catching up and restarts its schedule from now. A reader
// that stalls for a second then gets at most this many frames at once, as a
// real device's buffer would hand over, instead of an ever longer burst.
const maxLagFrames = 50

// schedule hands out the due times of frames k = 0, 1, 2...: frame k is due
// at start + k*d, where start is the time of the first frame. Computing each
// deadline from the start (not from the previous frame) keeps the clock from
// drifting however late each wake-up is.
type schedule struct {
	d     time.Duration
	start time.Time // monotonic; zero until the first frame
	k     int64
}

// wait blocks until the next frame is due (or ctx ends) and advances.
func (s *schedule) wait(ctx context.Context) error {
	now := time.Now()
	if s.start.IsZero() {
		s.start = now
	}
	due := s.start.Add(time.Duration(s.k) * s.d)
	if late := now.Sub(due); late > maxLagFrames*s.d {
		// Fell too far behind: restart the schedule at now.
		s.start, s.k, due = now, 0, now
	}
	if wait := due.Sub(now); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	} else if err := ctx.Err(); err != nil {
		return err
	}
	s.k++
	return nil
}

// Paced returns src clocked at one frame of duration d per period: the read
// of frame k returns no earlier than start + k*d, where start is the time of
// the first Read. It is how every virtual device becomes real-time. The
// frames passed to Read must hold SamplesPer(d) samples. A Paced source is
// for one reader at a time.
func Paced(src Source, d time.Duration) Source {
	return &pacedSource{src: src, pacer: pacer{sched: schedule{d: d}}}
}

// PacedSink returns dst clocked at one frame of duration d per period: the
// write of frame k returns no earlier than start + k*d, as a speaker that
// plays one frame per period would accept them. A PacedSink is for one
// writer at a time.
func PacedSink(dst Sink, d time.Duration) Sink {
	return &pacedSink{dst: dst, pacer: pacer{sched: schedule{d: d}}}
}

// pacer holds one device's schedule: each frame waits for its due time,
// one caller at a time.
type pacer struct {
	mu    sync.Mutex
	sched schedule
}

// pace checks frame's length, waits for its due time, then runs io (the
// device's Read or Write) with the schedule held.
func (p *pacer) pace(ctx context.Context, frame []int16, io func() error) error {
	if err := checkFrame(frame, p.sched.d); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.sched.wait(ctx); err != nil {
		return err
	}
	return io()
}

type pacedSource struct {
	src Source
	pacer
}

func (p *pacedSource) Read(ctx context.Context, frame []int16) error {
	return p.pace(ctx, frame, func() error { return p.src.Read(ctx, frame) })
}

func (p *pacedSource) Close() error { return p.src.Close() }

type pacedSink struct {
	dst Sink
	pacer
}

func (p *pacedSink) Write(ctx context.Context, frame []int16) error {
	return p.pace(ctx, frame, func() error { return p.dst.Write(ctx, frame) })
}

func (p *pacedSink) Close() error { return p.dst.Close() }

func checkFrame(frame []int16, d time.Duration) error {
	if n := SamplesPer(d); len(frame) != n {
		return fmt.Errorf("audio frame of %d samples, want %d (%v at %d Hz)", len(frame), n, d, SampleRate)
	}
	return nil
}
