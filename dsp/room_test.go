package dsp

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/dsp/fourier"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
)

// room is a synthetic echo path: a direct arrival after delay, early
// reflections, and a diffuse tail decaying by 60 dB in rt60, irLen long,
// scaled so that the echo is gainDB below what the speaker played.
type room struct {
	delay  float64 // seconds
	irLen  float64
	rt60   float64
	gainDB float64
	seed   uint64
}

func (r room) impulse() []float64 {
	rng := rand.New(rand.NewPCG(r.seed, 7))
	d := int(r.delay * audio.SampleRate)
	n := d + int(r.irLen*audio.SampleRate)
	h := make([]float64, n)
	h[d] = 1
	for _, refl := range []struct{ at, g float64 }{{0.0031, -0.6}, {0.0074, 0.45}, {0.0123, -0.35}, {0.019, 0.3}} {
		h[d+int(refl.at*audio.SampleRate)] += refl.g
	}
	decay := math.Log(1000) / r.rt60 // amplitude: -60 dB at rt60
	for i := d + int(0.005*audio.SampleRate); i < n; i++ {
		t := float64(i-d) / audio.SampleRate
		h[i] += 0.25 * rng.NormFloat64() * math.Exp(-decay*t)
	}
	var e float64
	for _, v := range h {
		e += v * v
	}
	g := math.Pow(10, r.gainDB/20) / math.Sqrt(e)
	for i := range h {
		h[i] *= g
	}
	return h
}

// convolve returns x convolved with h, as long as x.
func convolve(x []int16, h []float64) []float64 {
	n := 1
	for n < len(x)+len(h) {
		n <<= 1
	}
	fft := fourier.NewFFT(n)
	a, b := make([]float64, n), make([]float64, n)
	for i, v := range x {
		a[i] = float64(v)
	}
	copy(b, h)
	ca, cb := fft.Coefficients(nil, a), fft.Coefficients(nil, b)
	for i := range ca {
		ca[i] *= cb[i]
	}
	y := fft.Sequence(nil, ca)
	for i := range y {
		y[i] /= float64(n)
	}
	return y[:len(x)]
}

// echoScene is a far-end talker heard through a room, optionally with a
// near-end talker starting at nearAt seconds.
type echoScene struct {
	far, mic, near []int16
}

func clamp16(v float64) int16 { return int16(max(-32768, min(32767, math.Round(v)))) }

// newEchoScene builds 2 x alice as the far end through r; with doubleTalk,
// bob talks into the microphone from 8 s on, over the second alice.
func newEchoScene(r room, doubleTalk bool) echoScene {
	a := testaudio.MustSpeech("alice")
	far := append(append([]int16(nil), a...), a...)
	echo := convolve(far, r.impulse())
	rng := rand.New(rand.NewPCG(r.seed, 99))
	near := make([]int16, len(far)) // silent in single talk
	if doubleTalk {
		b := testaudio.MustSpeech("bob")
		copy(near[8*audio.SampleRate:], b)
	}
	mic := make([]int16, len(far))
	for i := range mic {
		v := echo[i] + 3*rng.NormFloat64() // a quiet microphone's noise floor (-81 dBFS)
		v += float64(near[i])
		mic[i] = clamp16(v)
	}
	return echoScene{far: far, mic: mic, near: near}
}
