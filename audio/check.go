package audio

import (
	"context"
	"fmt"
)

// CheckSource tells, before a call is dialled, whether OpenSource can open
// spec as a microphone, so that a bad --audio-in fails at once instead of
// after the callee answered. It opens nothing that lasts and reads no audio:
// for wav:PATH it refuses anything but a regular file without opening it
// (a named pipe, a device such as /dev/zero, a directory), then reads and
// validates the header (16-bit PCM, 1-8 channels, 8-192 kHz, a data chunk
// no longer than the file and MaxWAVBytes); for default and pa:NAME it
// looks the capture device up in PortAudio (in a build without cgo it
// returns an error wrapping ErrNoPortAudio); tone, silence and null always
// pass. Errors start with the spec ("wav:/tmp/x is a named pipe, ...") and
// say what to do. OpenSource makes the same checks itself, so a file that
// changes between the two is still refused, never blocked on.
func CheckSource(ctx context.Context, spec Spec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch spec.Kind {
	case KindDefault, KindPortAudio:
		if err := checkPortAudio(ctx, spec, true); err != nil {
			return fmt.Errorf("%s: %w", spec, err)
		}
		return nil
	case KindWAV:
		return checkWAVFile(spec.Path)
	case KindTone, KindSilence, KindNull:
		return nil
	}
	return fmt.Errorf("unknown audio device kind %d; use one of: %s", spec.Kind, SpecForms)
}

// CheckSink tells, before a call is dialled, whether OpenSink can open spec
// as a speaker. For wav:PATH an existing path must be a regular file that
// opens for writing (it is not truncated or changed); a new one needs an
// existing folder in which a file can be created (CheckSink creates and
// removes a hidden test file there). default and pa:NAME are looked up as
// playback devices (ErrNoPortAudio without cgo); tone is refused, as
// OpenSink refuses it; silence and null always pass. Errors start with the
// spec and say what to do.
func CheckSink(ctx context.Context, spec Spec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch spec.Kind {
	case KindDefault, KindPortAudio:
		if err := checkPortAudio(ctx, spec, false); err != nil {
			return fmt.Errorf("%s: %w", spec, err)
		}
		return nil
	case KindWAV:
		return checkWAVSink(spec.Path)
	case KindTone:
		return fmt.Errorf("%s: a tone is a source, not a speaker; for output use default, pa:NAME, wav:PATH or null", spec)
	case KindSilence, KindNull:
		return nil
	}
	return fmt.Errorf("unknown audio device kind %d; use one of: %s", spec.Kind, SpecForms)
}
