package testaudio

import (
	"testing"

	"github.com/peercall/peercall/internal/testutil"
)

func TestSimilarity(t *testing.T) {
	testutil.SkipOfflineUnderRace(t)
	alice, bob := MustSpeech("alice"), MustSpeech("bob")
	delayed := make([]int16, 1234, 1234+len(alice))
	for _, v := range alice {
		delayed = append(delayed, v/2) // delayed and 6 dB quieter
	}
	tests := []struct {
		name      string
		sent, got []int16
		wantAbove bool
		wantLag   int
		checkLag  bool
	}{
		{"same", alice, alice, true, 0, true},
		{"delayed and quieter", alice, delayed, true, 1234, true},
		{"different speech", alice, bob, false, 0, false},
		{"silence", alice, make([]int16, len(alice)), false, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, lag := Similarity(tc.sent, tc.got, 48000)
			t.Logf("similarity %.3f at lag %d", c, lag)
			if (c > Threshold) != tc.wantAbove {
				t.Fatalf("similarity %.3f, want above %v: %v", c, Threshold, tc.wantAbove)
			}
			if tc.checkLag && lag != tc.wantLag {
				t.Fatalf("lag %d, want %d", lag, tc.wantLag)
			}
			if !tc.wantAbove && c > 0.25 {
				t.Fatalf("unrelated audio scored %.3f, above the 0.25 chance bound the Threshold comment claims", c)
			}
		})
	}
}
