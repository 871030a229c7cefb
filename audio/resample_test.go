package audio

import (
	"context"
	"fmt"
	"math/rand/v2"
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
	loud := []int16{32767, -32768, 32767, -32768, 32767}
	for _, v := range newResampler(44100, 48000).process(nil, loud) {
		if v != 32767 && v != -32768 && (v > 32767 || v < -32768) {
			t.Fatalf("overflow: %d", v)
		}
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
