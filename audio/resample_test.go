package audio

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestResamplerStreaming checks that feeding a stream in blocks of any size
// gives exactly what feeding it at once gives (no seams between blocks), and
// that the output length follows the rate ratio.
func TestResamplerStreaming(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]int16, 44100)
	for i := range x {
		x[i] = int16(rng.IntN(65536) - 32768)
	}
	for _, rates := range [][2]int{{44100, 48000}, {48000, 44100}, {16000, 48000}, {8000, 48000}, {96000, 48000}, {22050, 48000}, {48000, 48000}} {
		t.Run(fmt.Sprintf("%d_to_%d", rates[0], rates[1]), func(t *testing.T) {
			whole := newResampler(rates[0], rates[1]).process(nil, x)
			// The outputs between the last input sample and the next are
			// held back until that sample arrives: up to out/in of them.
			want, held := len(x)*rates[1]/rates[0], (rates[1]+rates[0]-1)/rates[0]
			if d := len(whole) - want; d < -held || d > 1 {
				t.Fatalf("%d samples in gave %d out, want %d (-%d..+1)", len(x), len(whole), want, held)
			}
			for _, block := range []int{1, 7, 441, 882, 960, 1000} {
				r := newResampler(rates[0], rates[1])
				var got []int16
				for i := 0; i < len(x); i += block {
					got = r.process(got, x[i:min(i+block, len(x))])
				}
				if len(got) != len(whole) {
					t.Fatalf("blocks of %d: %d samples, want %d", block, len(got), len(whole))
				}
				for i := range got {
					if got[i] != whole[i] {
						t.Fatalf("blocks of %d: sample %d = %d, want %d", block, i, got[i], whole[i])
					}
				}
			}
		})
	}
}

// TestResamplerInterpolates checks values on a ramp, where linear
// interpolation is exact, and that full-scale input does not wrap.
func TestResamplerInterpolates(t *testing.T) {
	ramp := make([]int16, 160)
	for i := range ramp {
		ramp[i] = int16(i * 30)
	}
	got := newResampler(16000, 48000).process(nil, ramp)
	for j, v := range got {
		if want := int16((j*30 + 1) / 3); v != want { // position j/3, value 30*j/3 rounded
			t.Fatalf("sample %d = %d, want %d", j, v, want)
		}
	}
}

// TestResamplerFullScale checks full-scale input, where a missing clamp or
// an overflow in the interpolation would wrap a sample to the other end of
// the range: every output must be the exact interpolation of its two
// neighbouring inputs (rounded half away from zero), which for a constant
// input is that constant.
func TestResamplerFullScale(t *testing.T) {
	alternating := make([]int16, 64)
	for i := range alternating {
		alternating[i] = []int16{math.MaxInt16, math.MinInt16}[i%2]
	}
	for _, tc := range []struct {
		name    string
		in, out int
		x       []int16
	}{
		{"max up", 44100, 48000, slices.Repeat([]int16{math.MaxInt16}, 64)},
		{"min up", 44100, 48000, slices.Repeat([]int16{math.MinInt16}, 64)},
		{"max down", 48000, 44100, slices.Repeat([]int16{math.MaxInt16}, 64)},
		{"min down", 96000, 48000, slices.Repeat([]int16{math.MinInt16}, 64)},
		{"alternating up", 44100, 48000, alternating},
		{"alternating 16k", 16000, 48000, alternating},
		{"alternating down", 48000, 44100, alternating},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := newResampler(tc.in, tc.out).process(nil, tc.x)
			if len(got) < len(tc.x)*tc.out/tc.in-tc.out/tc.in-1 {
				t.Fatalf("%d samples in gave only %d out", len(tc.x), len(got))
			}
			for j, v := range got {
				// Output j lies at input position j*in/out: between x[i] and x[i+1].
				num := int64(j) * int64(tc.in)
				i, rem := num/int64(tc.out), num%int64(tc.out)
				a, b := int64(tc.x[i]), int64(tc.x[i+1])
				// want = a + (b-a)*rem/out, rounded half away from zero, in integers.
				p, q := a*int64(tc.out)+(b-a)*rem, int64(tc.out)
				want := (p + q/2) / q
				if p < 0 {
					want = (p - q/2) / q
				}
				if d := int64(v) - want; d < -1 || d > 1 {
					t.Fatalf("sample %d = %d, want %d (between %d and %d)", j, v, want, a, b)
				}
				if a == b && int64(v) != a {
					t.Fatalf("sample %d = %d, want %d: constant input must stay constant", j, v, a)
				}
			}
		})
	}
}

// BenchmarkResample measures one 20 ms frame through the resampler, the
// work a sound card at 44.1 kHz costs per frame (capture and playback), and
// a 16 kHz WAV microphone.
func BenchmarkResample(b *testing.B) {
	for _, rates := range [][2]int{{44100, 48000}, {48000, 44100}, {16000, 48000}} {
		b.Run(fmt.Sprintf("%d_to_%d", rates[0], rates[1]), func(b *testing.B) {
			in := make([]int16, SamplesPer(Frame20ms)*rates[0]/SampleRate)
			NewTone(440, 0.5).Read(context.Background(), in)
			r := newResampler(rates[0], rates[1])
			out := make([]int16, 0, 2*SamplesPer(Frame20ms))
			b.ReportAllocs()
			for b.Loop() {
				out = r.process(out[:0], in)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/frame")
			b.ReportMetric(float64(Frame20ms)/(float64(b.Elapsed().Nanoseconds())/float64(b.N)), "x-realtime")
		})
	}
}
