package audio_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
)

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		open func() error
		want string
	}{
		{"tone as a sink", func() error {
			_, err := audio.OpenSink(ctx, mustSpec(t, "tone:440"), audio.Options{})
			return err
		}, "a tone is a source"},
		{"15ms frames", func() error {
			_, err := audio.OpenSource(ctx, mustSpec(t, "silence"), audio.Options{FrameDuration: 15 * time.Millisecond})
			return err
		}, "use 10ms or 20ms"},
		{"unknown kind", func() error {
			_, err := audio.OpenSource(ctx, audio.Spec{Kind: 99}, audio.Options{})
			return err
		}, "unknown device kind"},
		{"sink in a missing folder", func() error {
			_, err := audio.OpenSink(ctx, mustSpec(t, "wav:"+t.TempDir()+"/no/such/dir/x.wav"), audio.Options{})
			return err
		}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.open()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestOpenKinds opens every virtual kind both ways and checks what a frame
// holds.
func TestOpenKinds(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		spec    string
		nonZero bool // the source gives sound
	}{
		{"silence", false},
		{"null", false},
		{"tone:1000", true},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			src, err := audio.OpenSource(ctx, mustSpec(t, tc.spec), audio.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			frame := make([]int16, 960)
			for i := range frame {
				frame[i] = 7
			}
			if err := src.Read(ctx, frame); err != nil {
				t.Fatal(err)
			}
			var energy int64
			for _, v := range frame {
				energy += int64(v) * int64(v)
			}
			if (energy != 0) != tc.nonZero {
				t.Fatalf("frame energy %d, want sound: %v", energy, tc.nonZero)
			}
			if tc.spec == "tone:1000" {
				return
			}
			dst, err := audio.OpenSink(ctx, mustSpec(t, tc.spec), audio.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			if err := dst.Write(ctx, frame); err != nil {
				t.Fatal(err)
			}
		})
	}
}
