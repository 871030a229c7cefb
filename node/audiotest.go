package node

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/events"
)

// Audio checks of the settings page.
const (
	meterDuration = 5 * time.Second
	toneDuration  = 1500 * time.Millisecond
)

// AudioTest runs the settings page's checks: "meter" reads the
// microphone (spec, default the node's --audio-in) for 5 s and publishes
// its level every 100 ms; "tone" plays 440 Hz on the speaker (default
// --audio-out) for 1.5 s. Both publish events.AudioLevel; the last has
// Running false (and Error when the device failed).
func (n *Node) AudioTest(ctx context.Context, what, spec string) error {
	if spec == "" {
		spec = n.opts.AudioIn
		if what == "tone" {
			spec = n.opts.AudioOut
		}
	}
	if spec == "" {
		spec = "default"
	}
	lvl := events.AudioLevel{What: what, Device: spec, DBFS: -100}
	done := func(err error) error {
		lvl.Running = false
		if err != nil {
			lvl.Error = err.Error()
		}
		n.soft.bus.Publish(events.KindAudio, lvl)
		return err
	}
	sp, err := audio.ParseSpec(spec)
	if err != nil {
		return done(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	frame := make([]int16, audio.SampleRate/50)
	switch what {
	case "meter":
		src, err := audio.OpenSource(ctx, sp, audio.Options{Paced: true, Loop: true, Logger: n.log})
		if err != nil {
			return done(fmt.Errorf("open the microphone %s: %w", spec, err))
		}
		defer src.Close()
		lvl.Running = true
		var sum float64
		for i := 1; i <= int(meterDuration/(20*time.Millisecond)); i++ {
			if err := src.Read(ctx, frame); err != nil {
				return done(fmt.Errorf("read the microphone %s: %w", spec, err))
			}
			for _, s := range frame {
				sum += float64(s) * float64(s)
			}
			if i%5 == 0 {
				rms := math.Sqrt(sum/float64(5*len(frame))) / 32768
				lvl.DBFS = max(-100, 20*math.Log10(rms+1e-10))
				n.soft.bus.Publish(events.KindAudio, lvl)
				sum = 0
			}
		}
		return done(nil)
	case "tone":
		tone, _ := audio.ParseSpec("tone:440")
		src, err := audio.OpenSource(ctx, tone, audio.Options{})
		if err != nil {
			return done(err)
		}
		defer src.Close()
		sink, err := audio.OpenSink(ctx, sp, audio.Options{Logger: n.log})
		if err != nil {
			return done(fmt.Errorf("open the speaker %s: %w", spec, err))
		}
		defer sink.Close()
		lvl.Running = true
		n.soft.bus.Publish(events.KindAudio, lvl)
		for range int(toneDuration / (20 * time.Millisecond)) {
			if err := src.Read(ctx, frame); err != nil {
				return done(err)
			}
			if err := sink.Write(ctx, frame); err != nil {
				return done(fmt.Errorf("play on %s: %w", spec, err))
			}
		}
		return done(nil)
	}
	return done(fmt.Errorf("audio test %q: choose meter or tone", what))
}
