package testaudio

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/dsp/fourier"

	"github.com/peercall/peercall/audio"
)

// Room is a synthetic echo path: a direct arrival after delay, early
// reflections, and a diffuse tail decaying by 60 dB in rt60, irLen long,
// scaled so that the echo is gainDB below what the speaker played.
type Room struct {
	Delay  float64 // seconds before the direct sound arrives
	IRLen  float64 // seconds of reverberation after it
	RT60   float64 // seconds for the tail to decay by 60 dB
	GainDB float64 // echo level against what the speaker played
	Seed   uint64
}

// Impulse is the room's impulse response at audio.SampleRate.
func (r Room) Impulse() []float64 {
	rng := rand.New(rand.NewPCG(r.Seed, 7))
	d := int(r.Delay * audio.SampleRate)
	n := d + int(r.IRLen*audio.SampleRate)
	h := make([]float64, n)
	h[d] = 1
	for _, refl := range []struct{ at, g float64 }{{0.0031, -0.6}, {0.0074, 0.45}, {0.0123, -0.35}, {0.019, 0.3}} {
		h[d+int(refl.at*audio.SampleRate)] += refl.g
	}
	decay := math.Log(1000) / r.RT60 // amplitude: -60 dB at rt60
	for i := d + int(0.005*audio.SampleRate); i < n; i++ {
		t := float64(i-d) / audio.SampleRate
		h[i] += 0.25 * rng.NormFloat64() * math.Exp(-decay*t)
	}
	var e float64
	for _, v := range h {
		e += v * v
	}
	g := math.Pow(10, r.GainDB/20) / math.Sqrt(e)
	for i := range h {
		h[i] *= g
	}
	return h
}

// Convolve returns x convolved with h, as long as x.
func Convolve(x []int16, h []float64) []float64 {
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

// EchoScene is what a call's echo canceller sees: Far is what the speaker
// played, Mic what the microphone captured (the far end through the room,
// plus Near, the near-end talker alone).
type EchoScene struct {
	Far, Mic, Near []int16
}

// Clamp16 rounds v to a 16-bit sample.
func Clamp16(v float64) int16 { return int16(max(-32768, min(32767, math.Round(v)))) }

// NewEchoScene builds 2 x alice (15.8 s) as the far end through r; with
// doubleTalk, bob talks into the microphone from 8 s on, over the second
// alice (5.5 s of double talk).
func NewEchoScene(r Room, doubleTalk bool) EchoScene {
	a := MustSpeech("alice")
	far := append(append([]int16(nil), a...), a...)
	echo := Convolve(far, r.Impulse())
	rng := rand.New(rand.NewPCG(r.Seed, 99))
	near := make([]int16, len(far)) // silent in single talk
	if doubleTalk {
		b := MustSpeech("bob")
		copy(near[8*audio.SampleRate:], b)
	}
	mic := make([]int16, len(far))
	for i := range mic {
		v := echo[i] + 3*rng.NormFloat64() // a quiet microphone's noise floor (-81 dBFS)
		v += float64(near[i])
		mic[i] = Clamp16(v)
	}
	return EchoScene{Far: far, Mic: mic, Near: near}
}

// Noisy returns clean speech (alice) with noise added at snrDB: white
// noise, or babble (four copies of another talker at other offsets).
func Noisy(kind string, snrDB float64) (clean, mixed []int16) {
	clean = MustSpeech("alice")
	noise := make([]float64, len(clean))
	switch kind {
	case "white":
		rng := rand.New(rand.NewPCG(5, 5))
		for i := range noise {
			noise[i] = rng.NormFloat64()
		}
	case "babble":
		b := MustSpeech("bob")
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
		mixed[i] = Clamp16(float64(clean[i]) + g*noise[i])
	}
	return clean, mixed
}
