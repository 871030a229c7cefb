//go:build !cgo

package audio_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/peercall/peercall/audio"
)

// TestNoPortAudio checks that a build without cgo refuses sound card specs
// with ErrNoPortAudio and still runs virtual devices.
func TestNoPortAudio(t *testing.T) {
	ctx := context.Background()
	if _, err := audio.Devices(); !errors.Is(err, audio.ErrNoPortAudio) {
		t.Fatalf("Devices: %v", err)
	}
	for _, s := range []string{"default", "pa:USB"} {
		if _, err := audio.OpenSource(ctx, mustSpec(t, s), audio.Options{}); !errors.Is(err, audio.ErrNoPortAudio) {
			t.Fatalf("OpenSource(%s): %v", s, err)
		}
		if _, err := audio.OpenSink(ctx, mustSpec(t, s), audio.Options{}); !errors.Is(err, audio.ErrNoPortAudio) {
			t.Fatalf("OpenSink(%s): %v", s, err)
		}
		want := s + ": this peercall binary was built without cgo, so without PortAudio"
		for name, check := range map[string]func(context.Context, audio.Spec) error{"CheckSource": audio.CheckSource, "CheckSink": audio.CheckSink} {
			err := check(ctx, mustSpec(t, s))
			if !errors.Is(err, audio.ErrNoPortAudio) || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("%s(%s) = %v, want ErrNoPortAudio saying %q", name, s, err, want)
			}
		}
	}
}
