package audio_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/peercall/peercall/audio"
)

// zeroCrossingHz estimates the frequency of a tone at rate from the number
// of sign changes: a sine crosses zero twice per cycle.
func zeroCrossingHz(s []int16, rate int) float64 {
	crossings := 0
	for i := 1; i < len(s); i++ {
		if (s[i-1] < 0) != (s[i] < 0) {
			crossings++
		}
	}
	return float64(crossings) / 2 / (float64(len(s)) / float64(rate))
}

// readAll reads src frame by frame (20 ms) until io.EOF or max frames.
func readAll(t testing.TB, src audio.Source, maxFrames int) []int16 {
	t.Helper()
	frame := make([]int16, audio.SamplesPer(audio.Frame20ms))
	var out []int16
	for range maxFrames {
		err := src.Read(context.Background(), frame)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		out = append(out, frame...)
	}
	return out
}

// writeAll writes s to dst in 20 ms frames, the last one padded with zeros.
func writeAll(t testing.TB, dst audio.Sink, s []int16) {
	t.Helper()
	n := audio.SamplesPer(audio.Frame20ms)
	frame := make([]int16, n)
	for i := 0; i < len(s); i += n {
		clear(frame)
		copy(frame, s[i:])
		if err := dst.Write(context.Background(), frame); err != nil {
			t.Fatalf("Write frame %d: %v", i/n, err)
		}
	}
}

// tone returns n samples of a full-scale/2 sine of hz at rate.
func toneSamples(hz float64, rate, n int) []int16 {
	src := audio.NewTone(hz*audio.SampleRate/float64(rate), 0.5)
	out := make([]int16, n)
	_ = src.Read(context.Background(), out)
	return out
}
