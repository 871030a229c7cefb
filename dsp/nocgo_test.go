//go:build !cgo

package dsp

import (
	"errors"
	"testing"
)

// TestNoCgo: without cgo every stage that needs the library is refused
// with ErrUnavailable, and a chain with none still works.
func TestNoCgo(t *testing.T) {
	for _, cfg := range []Config{{EchoCancel: true}, {NoiseSuppress: true}, {AutoGain: true}, All()} {
		if _, err := New(cfg); !errors.Is(err, ErrUnavailable) {
			t.Errorf("New(%+v) = %v, want ErrUnavailable", cfg, err)
		}
	}
	if _, err := New(Config{}); err != nil {
		t.Errorf("New with no stage: %v", err)
	}
}
