package opus

import (
	"errors"
	"fmt"
)

// EncoderConfig is how an Encoder is set up: 48 kHz mono speech.
type EncoderConfig struct {
	SampleRate   int // Hz
	FrameSamples int // samples per frame (10 or 20 ms)
	Bitrate      int // bit/s
	FEC          bool
	DTX          bool
	LossPercent  int // the expected loss the in-band FEC is sized for
	Complexity   int // 0..10
	// SILKOnly restricts the encoder to SILK (a test decodes our packets
	// with a decoder of its own).
	SILKOnly bool
}

// ErrFrame is returned by Encode for a frame of the wrong length.
var ErrFrame = errors.New("opus: wrong frame length")

func (c EncoderConfig) check() error {
	switch {
	case c.SampleRate <= 0 || c.FrameSamples <= 0:
		return fmt.Errorf("opus: sample rate %d, frame %d samples: both must be positive", c.SampleRate, c.FrameSamples)
	case c.Complexity < 0 || c.Complexity > 10:
		return fmt.Errorf("opus: complexity %d: want 0..10", c.Complexity)
	}
	return nil
}
