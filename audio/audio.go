package audio

import (
	"context"
	"fmt"
	"time"
)

// SampleRate is the only rate peercall moves audio at: 48 kHz, as Opus codes it.
const SampleRate = 48000

// Frame durations peercall supports.
const (
	Frame20ms = 20 * time.Millisecond // the default
	Frame10ms = 10 * time.Millisecond
)

// SamplesPer returns the number of mono samples in one frame of duration d at
// SampleRate (960 for 20 ms, 480 for 10 ms).
func SamplesPer(d time.Duration) int {
	return int(int64(SampleRate) * int64(d) / int64(time.Second))
}

// ValidFrameDuration reports an error unless d is 10 ms or 20 ms.
func ValidFrameDuration(d time.Duration) error {
	if d != Frame10ms && d != Frame20ms {
		return fmt.Errorf("frame duration %v is not supported: use 10ms or 20ms", d)
	}
	return nil
}

// Source is a microphone: each Read fills frame (exactly one frame of mono
// 16-bit samples at SampleRate) with the next captured audio. A clocked source
// blocks until the frame's time has come; an unpaced one returns at once.
// Read returns io.EOF when the source has no more audio, and ctx.Err() when ctx
// ends first.
type Source interface {
	Read(ctx context.Context, frame []int16) error
	Close() error
}

// Sink is a speaker: each Write plays one frame. A clocked sink blocks while
// its buffer is full, an unpaced one returns at once.
type Sink interface {
	Write(ctx context.Context, frame []int16) error
	Close() error
}
