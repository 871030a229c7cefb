package callharness

import (
	"testing"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
)

// TestSegmentSimilarity: the score the call tests use tells the sent
// speech, delayed and with a frame stretched in, from another speaker.
func TestSegmentSimilarity(t *testing.T) {
	alice, bob := Speech("alice", 2.5), Speech("bob", 2.5)
	delayed := append(make([]int16, audio.SampleRate/10), alice...)
	// A jitter buffer stretch: one 20 ms frame of silence in the middle.
	stretched := append(append(append([]int16(nil), delayed[:audio.SampleRate]...), make([]int16, 960)...), delayed[audio.SampleRate:]...)
	tests := []struct {
		name  string
		heard []int16
		same  bool
	}{
		{"same, delayed 100 ms", delayed, true},
		{"same, stretched by a frame", stretched, true},
		{"another speaker", bob, false},
		{"silence", make([]int16, len(alice)), false},
	}
	for _, tc := range tests {
		sim := SegmentSimilarity(alice, tc.heard)
		if (sim > testaudio.Threshold) != tc.same {
			t.Errorf("%s: similarity %.3f, want above %.2f: %v", tc.name, sim, testaudio.Threshold, tc.same)
		}
	}
}
