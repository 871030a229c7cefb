package voicemail

import (
	"context"
	"errors"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/dsp"
)

// RecordDevice records from the device spec for at most max, through the
// calls' microphone processing d (without echo cancellation: nothing
// plays), applied to a sound card, or to a virtual device when
// processVirtual (audio.process_virtual). A chain that cannot start (a
// build without cgo) records the audio as it is, and warn says why.
func RecordDevice(ctx context.Context, spec audio.Spec, d dsp.Config, processVirtual bool, max time.Duration, warn func(error)) ([]byte, time.Duration, error) {
	src, err := audio.OpenSource(ctx, spec, audio.Options{})
	if err != nil {
		return nil, 0, err
	}
	defer src.Close()
	var chain *dsp.Chain
	d.EchoCancel = false
	if d.Any() && (processVirtual || spec.Kind == audio.KindDefault || spec.Kind == audio.KindPortAudio) {
		if chain, err = dsp.New(d); err != nil {
			warn(err)
			chain = nil
		} else {
			defer chain.Close()
		}
	}
	return Record(ctx, src, chain, max)
}

// PlayDevice plays ogg on the device spec (a sound card is its own clock).
func PlayDevice(ctx context.Context, ogg []byte, spec audio.Spec) error {
	sink, err := audio.OpenSink(ctx, spec, audio.Options{})
	if err != nil {
		return err
	}
	if err := Play(ctx, ogg, sink); err != nil && !errors.Is(err, context.Canceled) {
		sink.Close()
		return err
	}
	return sink.Close()
}
