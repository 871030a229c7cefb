package audio

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by Read and Write on a device after its Close.
var ErrClosed = errors.New("audio device is closed")

// NewTone returns an unpaced source of a sine wave of hz Hz at amplitude
// (a fraction of full scale, clamped to 0..1). Its phase runs on across
// frames. Wrap it with Paced for real time.
func NewTone(hz, amplitude float64) Source {
	amplitude = max(0, min(1, amplitude))
	return &tone{step: hz / SampleRate, amp: amplitude * math.MaxInt16}
}

type tone struct {
	mu     sync.Mutex
	phase  float64 // in cycles, kept in [0, 1)
	step   float64 // cycles per sample
	amp    float64
	closed atomic.Bool
}

func (t *tone) Read(ctx context.Context, frame []int16) error {
	if t.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range frame {
		frame[i] = int16(math.Round(t.amp * math.Sin(2*math.Pi*t.phase)))
		t.phase += t.step
		if t.phase >= 1 {
			t.phase -= math.Floor(t.phase)
		}
	}
	return nil
}

func (t *tone) Close() error { t.closed.Store(true); return nil }

// NewSilence returns an unpaced source of zeros. Wrap it with Paced for real
// time.
func NewSilence() Source { return &silence{} }

type silence struct{ closed atomic.Bool }

func (s *silence) Read(ctx context.Context, frame []int16) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	clear(frame)
	return nil
}

func (s *silence) Close() error { s.closed.Store(true); return nil }

// NewNull returns an unpaced sink that discards every frame. Wrap it with
// PacedSink for real time.
func NewNull() Sink { return &null{} }

type null struct{ closed atomic.Bool }

func (n *null) Write(ctx context.Context, frame []int16) error {
	if n.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

func (n *null) Close() error { n.closed.Store(true); return nil }
