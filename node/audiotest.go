package node

import (
	"context"
	"fmt"
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
	running := func() { lvl.Running = true; n.soft.bus.Publish(events.KindAudio, lvl) }
	switch what {
	case "meter":
		lvl.Running = true
		return done(audio.MeterLevels(ctx, sp, meterDuration, n.log, func(dbfs float64) {
			lvl.DBFS = dbfs
			n.soft.bus.Publish(events.KindAudio, lvl)
		}))
	case "tone":
		return done(audio.PlayTestTone(ctx, sp, toneDuration, n.log, running))
	}
	return done(fmt.Errorf("audio test %q: choose meter or tone", what))
}
