package home

// AudioConfig is config.toml's [audio] section: which stages of the
// capture-side processing (package dsp) a call runs on the microphone.
type AudioConfig struct {
	// EchoCancellation removes the speaker's echo from the microphone.
	EchoCancellation bool `toml:"echo_cancellation"`
	// NoiseSuppression lowers steady background noise.
	NoiseSuppression bool `toml:"noise_suppression"`
	// AutoGain brings the voice to a steady level.
	AutoGain bool `toml:"auto_gain"`
	// HighPass removes DC and rumble below 50 Hz.
	HighPass bool `toml:"high_pass"`
	// ProcessVirtual also processes virtual microphones (wav:, tone:,
	// silence, and the audio tests give a node), which have no room: off
	// by default, so a test tone or a file is sent as it is.
	ProcessVirtual bool `toml:"process_virtual"`
}

// DefaultAudioConfig turns every stage on for sound cards.
func DefaultAudioConfig() AudioConfig {
	return AudioConfig{EchoCancellation: true, NoiseSuppression: true, AutoGain: true, HighPass: true}
}

// AudioSection is c's [audio], or the defaults without one.
func (c Config) AudioSection() AudioConfig {
	if c.Audio == nil {
		return DefaultAudioConfig()
	}
	return *c.Audio
}
