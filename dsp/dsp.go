package dsp

import (
	"errors"
	"time"

	"github.com/peercall/peercall/audio"
)

// ErrUnavailable is returned by New when a stage is asked for in a build
// without cgo (CGO_ENABLED=0): the DSP library is a C library.
var ErrUnavailable = errors.New("audio processing (echo cancellation, noise suppression, gain control) is not in this build: it was built with CGO_ENABLED=0; rebuild with cgo and libspeexdsp-dev (scripts/deps.sh), or turn the [audio] stages off")

// Processor is the capture-side processing a call's audio path runs: every
// frame the speaker played goes to ProcessRender with the time its first
// sample was heard, every frame the microphone captured to ProcessCapture
// with the time its first sample was captured, which rewrites it in place
// into what is sent. Frames are mono at audio.SampleRate, 10 or 20 ms. The
// two sides may run on different goroutines.
type Processor interface {
	ProcessCapture(frame []int16, capturedAt time.Time) error
	ProcessRender(frame []int16, playedAt time.Time)
}

// Config says which stages run. The zero value runs none.
type Config struct {
	// HighPass removes rumble and DC below HighPassHz before the echo
	// canceller.
	HighPass bool
	// EchoCancel subtracts the speaker's echo from the microphone (an
	// adaptive filter, then residual echo suppression).
	EchoCancel bool
	// NoiseSuppress lowers stationary noise.
	NoiseSuppress bool
	// AutoGain brings speech to a steady level.
	AutoGain bool
	// Engine names the library; "" is DefaultEngine ("webrtc", the WebRTC
	// audio-processing module). "speex" (speexdsp) exists only in builds
	// with the speexdsp tag, for comparisons.
	Engine string
}

// All returns a Config with every stage on.
func All() Config {
	return Config{HighPass: true, EchoCancel: true, NoiseSuppress: true, AutoGain: true}
}

// Any reports whether any stage is on.
func (c Config) Any() bool { return c.HighPass || c.EchoCancel || c.NoiseSuppress || c.AutoGain }

// Stages names the stages on, in processing order.
func (c Config) Stages() []string {
	var s []string
	for _, st := range []struct {
		on   bool
		name string
	}{{c.HighPass, "hpf"}, {c.EchoCancel, "aec"}, {c.NoiseSuppress, "ns"}, {c.AutoGain, "agc"}} {
		if st.on {
			s = append(s, st.name)
		}
	}
	return s
}

// Tuning of the chain.
const (
	// DefaultEngine is the library calls use.
	DefaultEngine = "webrtc"
	// HighPassHz is the high-pass filter's corner: low, because it only
	// keeps DC and rumble (handling noise, a draught on the capsule)
	// out of the echo canceller and the noise suppressor. The voice band's
	// own high-pass is Opus's (its VoIP mode filters every frame at a
	// corner of 60-100 Hz that follows the talker's pitch); a second one
	// at 80 Hz here stacked on it, thinning deep voices and shifting the
	// phase of their lowest harmonics twice (alice's test voice: 0.95 of
	// similarity through Opus alone, 0.87 with the chain at 80 Hz before it,
	// 0.91 with 50 Hz). Lower still would cost the echo canceller the
	// rumble of the echo it cannot model (ERLE at 90 ms of delay: 27 dB
	// at 80 Hz, 25 at 50 Hz, 23.5 at 30 Hz).
	HighPassHz = 50
	// subframe is what the libraries process at once: 10 ms.
	subframe = audio.SampleRate / 100
	// Tail is the echo canceller's filter length: the room's reverberation
	// it can cancel after the echo's first arrival (the bulk delay is
	// estimated and removed before it).
	Tail = 200 * time.Millisecond
	// MaxEchoDelay is the largest residual echo delay (beyond what the
	// timestamps account for) the delay estimator searches.
	MaxEchoDelay = 500 * time.Millisecond
)

// Stats is what a chain reports about itself.
type Stats struct {
	// Stages are the stages on ("hpf", "aec", "ns", "agc") and Engine the
	// library.
	Stages []string `json:"stages"`
	Engine string   `json:"engine"`
	// EchoDelayMs is the estimated delay from the speaker's playout to its
	// echo in the microphone, beyond what the timestamps account for
	// (acoustic path and unreported device latency); -1 until estimated.
	EchoDelayMs float64 `json:"echo_delay_ms"`
	// DelayChanges counts the times the reference was re-aligned to a new
	// estimate.
	DelayChanges uint64 `json:"delay_changes"`
	// CaptureFrames and RenderFrames count 10 ms frames.
	CaptureFrames uint64 `json:"capture_frames"`
	RenderFrames  uint64 `json:"render_frames"`
	// Resyncs counts timestamp jumps the timelines followed (a device
	// underrun, a stalled sender).
	Resyncs uint64 `json:"resyncs"`
	// ProcessUsPerFrame is the mean processing time of a 10 ms capture
	// frame, microseconds.
	ProcessUsPerFrame float64 `json:"process_us_per_frame"`
}
