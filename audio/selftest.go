package audio

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// MeterLevels reads the microphone spec for d, paced like a call, and
// gives its level in dBFS (-100 for silence) every 100 ms to level: the
// settings page's level meter. An error says which device failed.
func MeterLevels(ctx context.Context, spec Spec, d time.Duration, log *slog.Logger, level func(dbfs float64)) error {
	src, err := OpenSource(ctx, spec, Options{Paced: true, Loop: true, Logger: log})
	if err != nil {
		return fmt.Errorf("open the microphone %s: %w", spec, err)
	}
	defer src.Close()
	frame := make([]int16, SampleRate/50)
	var sum float64
	for i := 1; i <= int(d/(20*time.Millisecond)); i++ {
		if err := src.Read(ctx, frame); err != nil {
			return fmt.Errorf("read the microphone %s: %w", spec, err)
		}
		for _, s := range frame {
			sum += float64(s) * float64(s)
		}
		if i%5 == 0 {
			rms := math.Sqrt(sum/float64(5*len(frame))) / 32768
			level(max(-100, 20*math.Log10(rms+1e-10)))
			sum = 0
		}
	}
	return nil
}

// PlayTestTone plays 440 Hz on the speaker spec for d: the settings
// page's test tone. started is called once the speaker is open.
func PlayTestTone(ctx context.Context, spec Spec, d time.Duration, log *slog.Logger, started func()) error {
	src, err := OpenSource(ctx, Spec{Kind: KindTone, Hz: 440}, Options{})
	if err != nil {
		return err
	}
	defer src.Close()
	sink, err := OpenSink(ctx, spec, Options{Logger: log})
	if err != nil {
		return fmt.Errorf("open the speaker %s: %w", spec, err)
	}
	defer sink.Close()
	started()
	frame := make([]int16, SampleRate/50)
	for range int(d / (20 * time.Millisecond)) {
		if err := src.Read(ctx, frame); err != nil {
			return err
		}
		if err := sink.Write(ctx, frame); err != nil {
			return fmt.Errorf("play on %s: %w", spec, err)
		}
	}
	return nil
}
