package audio

import (
	"testing"
	"time"
)

// TestMeterLevels: a level every 100 ms, silence at the floor and a tone
// well above it; a microphone that cannot open says which.
func TestMeterLevels(t *testing.T) {
	for _, tc := range []struct {
		spec   Spec
		lo, hi float64
	}{
		{Spec{Kind: KindSilence}, -100, -100},
		{Spec{Kind: KindTone, Hz: 440}, -20, 0},
	} {
		var got []float64
		if err := MeterLevels(t.Context(), tc.spec, 300*time.Millisecond, nil, func(d float64) { got = append(got, d) }); err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		if len(got) != 3 {
			t.Fatalf("%s: %d levels in 300 ms, want 3", tc.spec, len(got))
		}
		for _, d := range got {
			if d < tc.lo || d > tc.hi {
				t.Errorf("%s: level %.1f dBFS, want %.0f..%.0f", tc.spec, d, tc.lo, tc.hi)
			}
		}
	}
	if err := MeterLevels(t.Context(), Spec{Kind: KindWAV, Path: "/nonexistent.wav"}, time.Second, nil, func(float64) {}); err == nil {
		t.Error("a missing WAV file metered")
	}
}
