package dsp

import "fmt"

// engine is one library's processing of 10 ms frames (subframe samples):
// the echo canceller (when on) gets the speaker reference aligned with
// the microphone, then noise suppression and gain control run.
type engine interface {
	// process rewrites mic (one or more subframes) in place. ref is the
	// aligned reference of the same length (nil
	// when echo cancellation is off); delayMs is how much later than ref's
	// first sample its echo is expected in mic (the alignment margin).
	process(mic, ref []int16, delayMs int)
	// reset forgets the echo path (after a large delay change).
	reset()
	// delayAware says the library takes the echo delay as a number (and
	// wants the reference unshifted), instead of a reference shifted by it.
	delayAware() bool
	close()
}

// engines are the libraries this build has, by name.
var engines = map[string]func(Config) (engine, error){}

func newEngine(c Config) (engine, error) {
	name := c.Engine
	if name == "" {
		name = DefaultEngine
	}
	mk, ok := engines[name]
	if !ok {
		if len(engines) == 0 {
			return nil, ErrUnavailable
		}
		return nil, fmt.Errorf("audio processing engine %q is not in this build (have %v)", name, engineNames())
	}
	return mk(c)
}

func engineNames() []string {
	var n []string
	for k := range engines {
		n = append(n, k)
	}
	return n
}

// Engines lists the processing libraries of this build.
func Engines() []string { return engineNames() }
