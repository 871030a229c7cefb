package audio_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/peercall/peercall/audio"
)

// TestPacedSchedule runs paced devices on synctest's fake clock, so the due
// times are checked exactly without a timed test: frame k must be handed
// over at start + k*d even when the user spends part of each period
// elsewhere (a drifting "sleep d after each frame" clock would not).
func TestPacedSchedule(t *testing.T) {
	for _, d := range []time.Duration{audio.Frame20ms, audio.Frame10ms} {
		for _, busy := range []time.Duration{0, 7 * time.Millisecond} {
			t.Run(d.String()+"/busy"+busy.String(), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					ctx := context.Background()
					src := audio.Paced(audio.NewTone(440, 0.5), d)
					dst := audio.PacedSink(audio.NewNull(), d)
					defer src.Close()
					defer dst.Close()
					frame := make([]int16, audio.SamplesPer(d))
					start := time.Now()
					for k := range 200 {
						if err := src.Read(ctx, frame); err != nil {
							t.Fatal(err)
						}
						if err := dst.Write(ctx, frame); err != nil {
							t.Fatal(err)
						}
						if got, want := time.Since(start), time.Duration(k)*d; got != want {
							t.Fatalf("frame %d handed over at %v, want %v", k, got, want)
						}
						time.Sleep(busy)
					}
				})
			})
		}
	}
}

// TestPacedCatchUp checks that a reader that stalls gets the frames it
// missed at once, up to about a second's worth, then real time again.
func TestPacedCatchUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		src := audio.Paced(audio.NewSilence(), audio.Frame20ms)
		defer src.Close()
		frame := make([]int16, 960)
		src.Read(ctx, frame)
		time.Sleep(200 * time.Millisecond) // ten frames late
		start := time.Now()
		for range 10 {
			src.Read(ctx, frame)
		}
		if time.Since(start) != 0 {
			t.Fatalf("catching up ten missed frames took %v, want no wait", time.Since(start))
		}
		src.Read(ctx, frame)
		if time.Since(start) != 20*time.Millisecond {
			t.Fatalf("frame after catching up came after %v, want 20ms", time.Since(start))
		}
		time.Sleep(10 * time.Second) // far behind: the schedule restarts
		start = time.Now()
		for k := range 3 {
			src.Read(ctx, frame)
			if got := time.Since(start); got != time.Duration(k)*20*time.Millisecond {
				t.Fatalf("after a long stall, frame %d came after %v", k, got)
			}
		}
	})
}

// TestPacedContext checks that a paced Read waiting for its frame returns
// when ctx ends, and that frames of the wrong size are refused.
func TestPacedContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := audio.Paced(audio.NewSilence(), audio.Frame20ms)
		defer src.Close()
		frame := make([]int16, 960)
		src.Read(context.Background(), frame)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		if err := src.Read(ctx, frame); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Read with a 5ms deadline before the 20ms frame: %v", err)
		}
		if err := src.Read(context.Background(), make([]int16, 480)); err == nil {
			t.Fatal("a paced 20 ms source accepted a 10 ms frame")
		}
	})
}

// TestUnpacedIsImmediate checks, on the fake clock, that unpaced devices
// never wait: a minute of audio takes no time at all.
func TestUnpacedIsImmediate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		src, err := audio.OpenSource(ctx, mustSpec(t, "tone:440"), audio.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		dst, err := audio.OpenSink(ctx, mustSpec(t, "null"), audio.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		frame := make([]int16, 960)
		start := time.Now()
		for range 3000 {
			if err := src.Read(ctx, frame); err != nil {
				t.Fatal(err)
			}
			if err := dst.Write(ctx, frame); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("a minute of unpaced audio took %v of (fake) time", d)
		}
	})
}

// TestOpenPaced checks that Options.Paced clocks what OpenSource and
// OpenSink return.
func TestOpenPaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		opts := audio.Options{Paced: true, FrameDuration: audio.Frame10ms}
		src, err := audio.OpenSource(ctx, mustSpec(t, "silence"), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		dst, err := audio.OpenSink(ctx, mustSpec(t, "silence"), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		frame := make([]int16, 480)
		start := time.Now()
		for range 100 {
			src.Read(ctx, frame)
			dst.Write(ctx, frame)
		}
		if got := time.Since(start); got != 990*time.Millisecond {
			t.Fatalf("100 paced 10 ms frames took %v, want 990ms", got)
		}
	})
}
