package dsp

import "math"

// highPass is a second-order Butterworth high-pass filter (a biquad in
// direct form I with the RBJ cookbook coefficients).
type highPass struct {
	b0, b1, b2, a1, a2 float64
	x1, x2, y1, y2     float64
}

func newHighPass(hz, rate float64) *highPass {
	w := 2 * math.Pi * hz / rate
	alpha := math.Sin(w) / math.Sqrt2 // sin(w)/(2Q) with Q = 1/sqrt(2)
	cosw := math.Cos(w)
	a0 := 1 + alpha
	return &highPass{
		b0: (1 + cosw) / 2 / a0, b1: -(1 + cosw) / a0, b2: (1 + cosw) / 2 / a0,
		a1: -2 * cosw / a0, a2: (1 - alpha) / a0,
	}
}

func (h *highPass) process(x []int16) {
	for i, v := range x {
		in := float64(v)
		y := h.b0*in + h.b1*h.x1 + h.b2*h.x2 - h.a1*h.y1 - h.a2*h.y2
		h.x2, h.x1, h.y2, h.y1 = h.x1, in, h.y1, y
		x[i] = int16(max(-32768, min(32767, math.Round(y))))
	}
}
