package testaudio

import (
	"bytes"
	"embed"
	"fmt"
	"math"

	"github.com/peercall/peercall/audio"
)

//go:embed testdata/*.wav
var files embed.FS

// Speech returns one of the embedded recordings, "alice" (7.9 s, a US voice)
// or "bob" (8.2 s, a British voice saying something else), as 48 kHz mono.
func Speech(name string) ([]int16, error) {
	b, err := files.ReadFile("testdata/" + name + ".wav")
	if err != nil {
		return nil, fmt.Errorf("no test recording %q: %w", name, err)
	}
	s, info, err := audio.ReadWAV(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if info.SampleRate != audio.SampleRate || info.Channels != 1 {
		return nil, fmt.Errorf("test recording %q is %d Hz x %d", name, info.SampleRate, info.Channels)
	}
	return s, nil
}

// MustSpeech is Speech for tests and benchmarks, panicking on error (the
// recordings are embedded, so an error is a broken build).
func MustSpeech(name string) []int16 {
	s, err := Speech(name)
	if err != nil {
		panic(err)
	}
	return s
}

// Threshold is the similarity above which received audio counts as the sent
// audio. Two different utterances (alice vs bob) score below 0.25 at their
// best lag; Opus at 24 kbit/s on a clean path scores above 0.8; with 10 %
// loss and concealment, above 0.5. 0.5 sits well above chance and below a
// lossy-but-intelligible call.
const Threshold = 0.5

// Similarity returns the normalised cross-correlation of sent and received at
// the lag (received delayed by lag samples, 0 <= lag <= maxLag) where it is
// largest, and that lag. The correlation is taken over the overlap of the two
// signals and lies in [-1, 1]; 1 means received is sent scaled and delayed.
//
// The lag search runs on 8 kHz decimated copies (so 8 s of audio with a
// 1 s search window costs milliseconds), then refines at the full rate.
func Similarity(sent, received []int16, maxLag int) (float64, int) {
	const dec = 6
	xs, ys := decimate(sent, dec), decimate(received, dec)
	best, bestLag := math.Inf(-1), 0
	for lag := 0; lag <= maxLag/dec; lag++ {
		if c := ncc(xs, ys, lag); c > best {
			best, bestLag = c, lag*dec
		}
	}
	xf, yf := toFloat(sent), toFloat(received)
	best, refined := math.Inf(-1), bestLag
	for lag := max(0, bestLag-2*dec); lag <= min(maxLag, bestLag+2*dec); lag++ {
		if c := ncc(xf, yf, lag); c > best {
			best, refined = c, lag
		}
	}
	if math.IsInf(best, -1) || math.IsNaN(best) {
		return 0, 0
	}
	return best, refined
}

func ncc(x, y []float64, lag int) float64 {
	n := min(len(x), len(y)-lag)
	if n <= 0 {
		return 0
	}
	var xy, xx, yy float64
	for i := 0; i < n; i++ {
		a, b := x[i], y[i+lag]
		xy += a * b
		xx += a * a
		yy += b * b
	}
	if xx == 0 || yy == 0 {
		return 0
	}
	return xy / math.Sqrt(xx*yy)
}

func decimate(s []int16, k int) []float64 {
	out := make([]float64, len(s)/k)
	for i := range out {
		var sum float64
		for _, v := range s[i*k : i*k+k] {
			sum += float64(v)
		}
		out[i] = sum / float64(k)
	}
	return out
}

func toFloat(s []int16) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}
