package audio

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Kind says which device a Spec names.
type Kind int

// The kinds of device a Spec can name.
const (
	KindDefault   Kind = iota // the system's default PortAudio device
	KindPortAudio             // a PortAudio device chosen by name
	KindWAV                   // a WAV file: read as a microphone, written as a speaker
	KindTone                  // a sine tone (source); a sink treats it as an error
	KindSilence               // zeros (source); for a sink, same as null
	KindNull                  // discards (sink); for a source, same as silence
)

// Tone frequency bounds accepted by ParseSpec, in Hz.
const (
	MinToneHz = 20
	MaxToneHz = 20000
)

// SpecForms lists the accepted spellings of a device spec, for help texts and
// error messages.
const SpecForms = "default, pa:NAME (a PortAudio device; see `peercall devices`), wav:PATH (a WAV file), tone:HZ (20..20000), silence, null"

// ErrBadSpec is wrapped by every ParseSpec error.
var ErrBadSpec = errors.New("bad audio device spec")

// Spec names an audio device, as given to --audio-in and --audio-out.
// Build one with ParseSpec; String gives back the spec's text.
type Spec struct {
	Kind Kind
	Name string  // KindPortAudio: the device name (exact or a unique substring)
	Path string  // KindWAV: the file path as written (relative paths are relative to the working directory)
	Hz   float64 // KindTone: the frequency
}

// ParseSpec parses a device spec: default, pa:NAME, wav:PATH, tone:HZ,
// silence or null. Every error wraps ErrBadSpec, says what was wrong and
// lists the accepted forms.
func ParseSpec(s string) (Spec, error) {
	bad := func(format string, args ...any) (Spec, error) {
		return Spec{}, fmt.Errorf("%w %q: %s; use one of: %s", ErrBadSpec, s, fmt.Sprintf(format, args...), SpecForms)
	}
	if s == "" {
		return bad("it is empty")
	}
	kind, arg, hasArg := strings.Cut(s, ":")
	switch kind {
	case "default", "silence", "null":
		if hasArg {
			return bad("%q takes no argument", kind)
		}
		return Spec{Kind: map[string]Kind{"default": KindDefault, "silence": KindSilence, "null": KindNull}[kind]}, nil
	case "pa":
		if strings.TrimSpace(arg) == "" {
			return bad("pa: needs a device name after the colon")
		}
		return Spec{Kind: KindPortAudio, Name: arg}, nil
	case "wav":
		if arg == "" {
			return bad("wav: needs a file path after the colon")
		}
		if strings.ContainsRune(arg, 0) {
			return bad("the file path contains a NUL byte")
		}
		return Spec{Kind: KindWAV, Path: arg}, nil
	case "tone":
		if arg == "" {
			return bad("tone: needs a frequency in Hz after the colon")
		}
		if strings.Trim(arg, "0123456789.") != "" || strings.Count(arg, ".") > 1 {
			return bad("tone frequency %q is not a decimal number of Hz", arg)
		}
		hz, err := strconv.ParseFloat(arg, 64)
		if err != nil {
			return bad("tone frequency %q is not a number", arg)
		}
		if hz < MinToneHz || hz > MaxToneHz {
			return bad("tone frequency %v Hz is outside %d..%d Hz", hz, MinToneHz, MaxToneHz)
		}
		return Spec{Kind: KindTone, Hz: hz}, nil
	}
	if !hasArg {
		return bad("unknown device %q", kind)
	}
	return bad("unknown device kind %q before the colon", kind)
}

// String returns the spec in the form ParseSpec accepts, so that
// ParseSpec(s.String()) == s.
func (s Spec) String() string {
	switch s.Kind {
	case KindDefault:
		return "default"
	case KindPortAudio:
		return "pa:" + s.Name
	case KindWAV:
		return "wav:" + s.Path
	case KindTone:
		return "tone:" + strconv.FormatFloat(s.Hz, 'f', -1, 64)
	case KindSilence:
		return "silence"
	case KindNull:
		return "null"
	}
	return fmt.Sprintf("Kind(%d)", int(s.Kind))
}

// Set parses text into s, so a Spec works as a flag.Value.
func (s *Spec) Set(text string) error {
	v, err := ParseSpec(text)
	if err != nil {
		return err
	}
	*s = v
	return nil
}
