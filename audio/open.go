package audio

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Options tune OpenSource and OpenSink. The zero value is 20 ms frames,
// unpaced, no logging.
type Options struct {
	// FrameDuration is 10 or 20 ms; zero means 20 ms.
	FrameDuration time.Duration
	// Paced clocks virtual devices in real time (one frame per
	// FrameDuration); unpaced ones return at once. PortAudio devices are
	// clocked by the sound card either way.
	Paced bool
	// Loop restarts a wav: source at its end instead of returning io.EOF.
	Loop bool
	// Logger receives device warnings (overruns, a full recording); nil
	// discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.FrameDuration == 0 {
		o.FrameDuration = Frame20ms
	}
	if err := ValidFrameDuration(o.FrameDuration); err != nil {
		return o, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// OpenSource opens spec as a microphone. null is silence; tone:HZ is a sine
// at half of full scale; wav:PATH plays the file (see NewWAVSource);
// default and pa:NAME open a PortAudio capture device (ErrNoPortAudio in a
// build without cgo). Call CheckSource first, before dialling: OpenSource
// starts the device (a PortAudio stream captures at once) and reads a whole
// WAV file, so it belongs after the call is answered. It repeats the checks
// itself and never blocks on a named pipe.
func OpenSource(ctx context.Context, spec Spec, opts Options) (Source, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open audio source %s: %w", spec, err)
	}
	var src Source
	switch spec.Kind {
	case KindDefault, KindPortAudio:
		src, err = openPortAudioSource(ctx, spec, opts)
		if err != nil {
			return nil, fmt.Errorf("open audio source %s: %w", spec, err)
		}
		return src, nil // the sound card is its clock
	case KindWAV:
		src, err = NewWAVSource(spec.Path, opts.Loop)
		if err != nil {
			return nil, fmt.Errorf("open audio source: %w", err) // the error names the spec
		}
	case KindTone:
		src = NewTone(spec.Hz, 0.5)
	case KindSilence, KindNull:
		src = NewSilence()
	default:
		return nil, fmt.Errorf("open audio source: unknown device kind %d; use one of: %s", spec.Kind, SpecForms)
	}
	if opts.Paced {
		src = Paced(src, opts.FrameDuration)
	}
	return src, nil
}

// OpenSink opens spec as a speaker. silence is null (discards); wav:PATH
// records to the file (see NewWAVSink); default and pa:NAME open a PortAudio
// playback device (ErrNoPortAudio in a build without cgo). tone:HZ is not a
// speaker and is refused. Call CheckSink first, before dialling: OpenSink
// truncates a wav: file and starts a PortAudio stream.
func OpenSink(ctx context.Context, spec Spec, opts Options) (Sink, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open audio sink %s: %w", spec, err)
	}
	var dst Sink
	switch spec.Kind {
	case KindDefault, KindPortAudio:
		dst, err = openPortAudioSink(ctx, spec, opts)
		if err != nil {
			return nil, fmt.Errorf("open audio sink %s: %w", spec, err)
		}
		return dst, nil
	case KindWAV:
		dst, err = NewWAVSink(spec.Path, opts.Logger)
		if err != nil {
			return nil, fmt.Errorf("open audio sink: %w", err) // the error names the spec
		}
	case KindSilence, KindNull:
		dst = NewNull()
	case KindTone:
		return nil, fmt.Errorf("open audio sink %s: a tone is a source, not a speaker; for output use default, pa:NAME, wav:PATH or null", spec)
	default:
		return nil, fmt.Errorf("open audio sink: unknown device kind %d; use one of: %s", spec.Kind, SpecForms)
	}
	if opts.Paced {
		dst = PacedSink(dst, opts.FrameDuration)
	}
	return dst, nil
}
