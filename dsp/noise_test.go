package dsp

import (
	"math"
	"math/rand/v2"

	"github.com/peercall/peercall/internal/testaudio"
)

// noisy returns clean speech (alice) with noise added at snrDB: white
// noise, or babble (four copies of another talker at other offsets).
func noisy(kind string, snrDB float64) (clean, mixed []int16) {
	clean = testaudio.MustSpeech("alice")
	noise := make([]float64, len(clean))
	switch kind {
	case "white":
		rng := rand.New(rand.NewPCG(5, 5))
		for i := range noise {
			noise[i] = rng.NormFloat64()
		}
	case "babble":
		b := testaudio.MustSpeech("bob")
		for k, off := range []int{0, 61111, 123457, 190001} {
			g := []float64{1, -0.8, 0.9, -0.7}[k]
			for i := range noise {
				noise[i] += g * float64(b[(i+off)%len(b)])
			}
		}
	}
	var es, en float64
	for i := range clean {
		es += float64(clean[i]) * float64(clean[i])
		en += noise[i] * noise[i]
	}
	g := math.Sqrt(es / en / math.Pow(10, snrDB/10))
	mixed = make([]int16, len(clean))
	for i := range clean {
		mixed[i] = clamp16(float64(clean[i]) + g*noise[i])
	}
	return clean, mixed
}

// snr estimates the speech-to-noise ratio of x, given where the clean
// speech is active: the noise power from the pauses, the speech power from
// the rest less that noise.
func snr(clean, x []int16) float64 {
	frames := min(len(clean), len(x)) / subframe
	act := activity(clean, frames)
	var pa, pn float64
	var na, nn int
	for f := range frames {
		if act[f] {
			pa += energy(x, f)
			na++
		} else {
			pn += energy(x, f)
			nn++
		}
	}
	pa, pn = pa/float64(na), pn/float64(nn)
	return 10 * math.Log10(max(pa-pn, 1e-9)/pn)
}

func exp10(x float64) float64 { return math.Pow(10, x) }
