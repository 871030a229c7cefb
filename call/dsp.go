package call

import (
	"errors"
	"fmt"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/dsp"
	"github.com/peercall/peercall/home"
)

// DSP stage names, as Options.DSPOff, the control request's dsp_off and
// `call --no-aec` etc. name them.
const (
	StageAEC = "aec"
	StageNS  = "ns"
	StageAGC = "agc"
	StageHPF = "hpf"
)

// DSPConfig turns config.toml's [audio] into the chain's stages and
// whether virtual microphones are processed too.
func DSPConfig(a home.AudioConfig) (dsp.Config, bool) {
	return dsp.Config{EchoCancel: a.EchoCancellation, NoiseSuppress: a.NoiseSuppression, AutoGain: a.AutoGain, HighPass: a.HighPass}, a.ProcessVirtual
}

// CheckDSPOff reports an error unless every name is a stage.
func CheckDSPOff(names []string) error {
	for _, n := range names {
		switch n {
		case StageAEC, StageNS, StageAGC, StageHPF:
		default:
			return fmt.Errorf("unknown audio processing stage %q: use %s, %s, %s or %s", n, StageAEC, StageNS, StageAGC, StageHPF)
		}
	}
	return nil
}

// withOff turns off the named stages of c.
func withOff(c dsp.Config, off []string) dsp.Config {
	for _, n := range off {
		switch n {
		case StageAEC:
			c.EchoCancel = false
		case StageNS:
			c.NoiseSuppress = false
		case StageAGC:
			c.AutoGain = false
		case StageHPF:
			c.HighPass = false
		}
	}
	return c
}

// soundCard reports whether spec is a real microphone (default, pa:NAME).
func soundCard(spec string) bool {
	s, err := audio.ParseSpec(spec)
	if err != nil {
		return false
	}
	return s.Kind == audio.KindDefault || s.Kind == audio.KindPortAudio
}

// processAudio puts the call's processing chain between its devices and
// the media: the microphone's frames through it before they are encoded,
// the speaker's frames into it as the echo reference. A chain that cannot
// be built (a build without cgo) leaves the audio as it is, with a warning.
func (r *run) processAudio(src audio.Source, sink audio.Sink) (audio.Source, audio.Sink) {
	m := r.m
	cfg := withOff(m.cfg.DSP, r.opts.DSPOff)
	if !cfg.Any() {
		return src, sink
	}
	if !m.cfg.DSPVirtual && (m.cfg.Audio != nil || !soundCard(orDefault(r.opts.AudioIn, m.cfg.AudioIn))) {
		return src, sink // a virtual microphone: nothing to cancel or clean
	}
	chain, err := dsp.New(cfg)
	if err != nil {
		if errors.Is(err, dsp.ErrUnavailable) {
			m.log.Warn("the microphone is sent without echo cancellation or noise suppression", "call", r.sc.ID(), "why", err)
		} else {
			m.log.Warn("audio processing could not start; the microphone is sent as it is", "call", r.sc.ID(), "err", err)
		}
		return src, sink
	}
	r.mu.Lock()
	r.chain = chain
	r.mu.Unlock()
	m.log.Info("audio processing on", "call", r.sc.ID(), "stages", cfg.Stages())
	return dsp.CaptureSource(src, chain), dsp.RenderSink(sink, chain)
}

// dspStats is the chain's figures, nil without a chain.
func (r *run) dspStatsLocked() *dsp.Stats {
	if r.chain == nil {
		return nil
	}
	st := r.chain.Stats()
	st.ProcessUsPerFrame = roundTo(st.ProcessUsPerFrame, 1)
	return &st
}
