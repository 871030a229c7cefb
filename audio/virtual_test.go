package audio_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/peercall/peercall/audio"
)

func TestToneFrequency(t *testing.T) {
	for _, hz := range []float64{20, 440, 1000, 3150.5, 8000, 20000} {
		t.Run(fmt.Sprintf("%vHz", hz), func(t *testing.T) {
			src := audio.NewTone(hz, 0.5)
			defer src.Close()
			s := readAll(t, src, 50) // one second, across 50 frames
			got := zeroCrossingHz(s, audio.SampleRate)
			if math.Abs(got-hz) > 1.5 {
				t.Fatalf("tone:%v measured %.1f Hz over 1 s", hz, got)
			}
			var sum float64
			for _, v := range s {
				sum += float64(v) * float64(v)
			}
			rms := math.Sqrt(sum / float64(len(s)))
			if want := 0.5 * math.MaxInt16 / math.Sqrt2; math.Abs(rms-want) > want/100 {
				t.Fatalf("RMS %.0f, want %.0f (a sine at amplitude 0.5)", rms, want)
			}
		})
	}
}

func TestSilenceAndNull(t *testing.T) {
	ctx := context.Background()
	src, dst := audio.NewSilence(), audio.NewNull()
	frame := []int16{1, 2, 3}
	if err := src.Read(ctx, frame); err != nil {
		t.Fatal(err)
	}
	if frame[0] != 0 || frame[1] != 0 || frame[2] != 0 {
		t.Fatalf("silence gave %v", frame)
	}
	if err := dst.Write(ctx, frame); err != nil {
		t.Fatal(err)
	}
	src.Close()
	dst.Close()
	if err := src.Read(ctx, frame); !errors.Is(err, audio.ErrClosed) {
		t.Fatalf("Read after Close: %v, want ErrClosed", err)
	}
	if err := dst.Write(ctx, frame); !errors.Is(err, audio.ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
}
