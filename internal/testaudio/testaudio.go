package testaudio

import (
	"bytes"
	"embed"
	"fmt"
	"math"
	"math/cmplx"

	"gonum.org/v1/gonum/dsp/fourier"

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
// Lags whose overlap is shorter than half the shorter signal (or 0.5 s) are
// not considered, so a few matching samples at the edge cannot score high.
//
// The correlation at every lag comes from one FFT (gonum), and the energies
// of each overlap from prefix sums, so 8 s of audio costs tens of
// milliseconds even under the race detector.
func Similarity(sent, received []int16, maxLag int) (float64, int) {
	if len(sent) == 0 || len(received) == 0 {
		return 0, 0
	}
	n := 1
	for n < len(sent)+len(received) {
		n <<= 1
	}
	x, y := make([]float64, n), make([]float64, n)
	for i, v := range sent {
		x[i] = float64(v)
	}
	for i, v := range received {
		y[i] = float64(v)
	}
	fft := fourier.NewFFT(n)
	cx := fft.Coefficients(nil, x)
	cy := fft.Coefficients(nil, y)
	for i := range cx {
		cy[i] *= cmplx.Conj(cx[i]) // correlation: c[lag] = sum x[i] y[i+lag]
	}
	corr := fft.Sequence(nil, cy)

	ex := prefixEnergy(sent)
	ey := prefixEnergy(received)
	minOverlap := min(len(sent), len(received)) / 2
	minOverlap = min(minOverlap, audio.SampleRate/2)
	best, bestLag := 0.0, 0
	for lag := 0; lag <= maxLag && lag < len(received); lag++ {
		m := min(len(sent), len(received)-lag)
		if m < max(minOverlap, 1) {
			break
		}
		exx, eyy := ex[m], ey[lag+m]-ey[lag]
		if exx == 0 || eyy == 0 {
			continue
		}
		if c := corr[lag] / float64(n) / math.Sqrt(exx*eyy); c > best {
			best, bestLag = c, lag
		}
	}
	return best, bestLag
}

func prefixEnergy(s []int16) []float64 {
	e := make([]float64, len(s)+1)
	for i, v := range s {
		e[i+1] = e[i] + float64(v)*float64(v)
	}
	return e
}
