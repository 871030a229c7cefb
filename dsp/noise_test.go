//go:build cgo

package dsp

import (
	"math"
)

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
