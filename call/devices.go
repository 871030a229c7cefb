package call

import (
	"context"
	"fmt"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/audio/live"
)

// EventDevice says that a call's microphone or speaker changed: its device
// failed and a fallback took over, it is back, or it was switched.
// Event.Device says which.
const EventDevice EventKind = "device"

// openLiveAudio opens a call's devices as live ones (live.OpenSource
// and live.OpenSink): a card that fails mid-call falls back to the system
// default (or silence) and the call goes on; each change is an
// EventDevice.
func (m *Manager) openLiveAudio(ctx context.Context, r *run, in, out audio.Spec) (audio.Source, audio.Sink, error) {
	frame := m.cfg.Media.FrameDuration
	onChange := func(ev live.Event) { r.deviceChanged(ev) }
	src, err := live.OpenSource(ctx, in, live.Options{Options: audio.Options{FrameDuration: frame, Paced: true, Logger: m.log}, OnChange: onChange})
	if err != nil {
		return nil, nil, fmt.Errorf("open audio input %s: %w", in, err)
	}
	sink, err := live.OpenSink(ctx, out, live.Options{Options: audio.Options{FrameDuration: frame, Logger: m.log}, OnChange: onChange})
	if err != nil {
		src.Close()
		return nil, nil, fmt.Errorf("open audio output %s: %w", out, err)
	}
	return src, sink, nil
}

// deviceChanged logs a change of device and emits it as an event.
func (r *run) deviceChanged(ev live.Event) {
	if ev.Warning != "" {
		r.m.log.Warn("call audio device changed", "call", r.sc.ID(), "dir", ev.Dir, "using", ev.Using, "reason", ev.Reason, "warning", ev.Warning)
	} else {
		r.m.log.Info("call audio device changed", "call", r.sc.ID(), "dir", ev.Dir, "using", ev.Using, "reason", ev.Reason)
	}
	e := Event{Kind: EventDevice, Call: r.info(), Device: &ev}
	if r.opts.OnEvent != nil {
		r.opts.OnEvent(e)
	}
	if r.m.cfg.OnCall != nil {
		r.m.cfg.OnCall(e)
	}
}

type deviceStater interface{ State() live.State }

// devicesLocked is what the call's microphone and speaker use now (nil
// for devices that are not live: Config.Audio's).
func (r *run) devicesLocked() (in, out *live.State) {
	if s, ok := r.src.(deviceStater); ok {
		st := s.State()
		in = &st
	}
	if s, ok := r.sink.(deviceStater); ok {
		st := s.State()
		out = &st
	}
	return in, out
}

type switcher interface {
	Switch(ctx context.Context, spec audio.Spec) error
}

// SetDevice switches the microphone (in) and/or the speaker (out) of the
// call id (the only call when id is empty) to the devices the specs name;
// an empty spec leaves that side as it is. The gap is one device open
// (`peercall device`).
func (m *Manager) SetDevice(ctx context.Context, id, in, out string) error {
	if in == "" && out == "" {
		return fmt.Errorf("%w: name a device for the microphone (--in) or the speaker (--out)", ErrAudio)
	}
	r, err := m.find(id)
	if err != nil {
		return err
	}
	r.mu.Lock()
	src, sink := r.src, r.sink
	r.mu.Unlock()
	for _, side := range []struct {
		spec, what string
		dev        any
		check      func(context.Context, audio.Spec) error
	}{{in, "audio input", src, audio.CheckSource}, {out, "audio output", sink, audio.CheckSink}} {
		if side.spec == "" {
			continue
		}
		spec, err := audio.ParseSpec(side.spec)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrAudio, side.what, err)
		}
		sw, ok := side.dev.(switcher)
		if !ok {
			return fmt.Errorf("%w: the call's %s cannot be switched (its audio is not open yet, or it is not a device)", ErrAudio, side.what)
		}
		if spec.Kind != audio.KindDefault && spec.Kind != audio.KindPortAudio {
			if err := side.check(ctx, spec); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrAudio, side.what, err)
			}
		}
		if err := sw.Switch(ctx, spec); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrAudio, side.what, err)
		}
	}
	return nil
}
