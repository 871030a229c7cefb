package dsp

import (
	"fmt"
	"math"
	"math/cmplx"
	"sort"
	"time"

	"gonum.org/v1/gonum/dsp/fourier"

	"github.com/peercall/peercall/audio"
)

// RunInput is a recording to process offline: Far is what the speaker
// played, Mic what the microphone captured at the same time (sample 0 of
// both at the same instant), both mono at audio.SampleRate. Near, when
// known (a test, a recording made apart), is the near-end talker alone: it
// tells double talk from far-end-only stretches and scores how well the
// near end survives.
type RunInput struct {
	Far, Mic, Near []int16
	// Frame is the call's frame duration (default 20 ms).
	Frame time.Duration
}

// Report is what Run measured.
type Report struct {
	Stats
	// Seconds of audio processed.
	Seconds float64 `json:"seconds"`
	// ERLEdB is the echo return loss enhancement, 10·log10(mic energy /
	// output energy), over the far-end-only stretches after convergence
	// (with Near unknown: every far-end-active stretch). 0 without any.
	ERLEdB float64 `json:"erle_db"`
	// ERLEFrames counts the 10 ms frames it was taken over; FarOnly says
	// whether they exclude double talk (Near given).
	ERLEFrames int  `json:"erle_frames"`
	FarOnly    bool `json:"far_only"`
	// ConvergenceS is the time from the far end's first speech until the
	// echo loss enhancement of a 0.5 s far-end-only stretch first reached
	// 20 dB (or came within 3 dB of its steady value, if that is lower);
	// -1 when it never did.
	ConvergenceS float64 `json:"convergence_s"`
	// NearSimilarity is the correlation of the output with Near where
	// both ends talk (double talk), -1 without Near or double talk.
	NearSimilarity float64 `json:"near_similarity"`
	// DoubleTalkS is how long both ends talked.
	DoubleTalkS float64 `json:"double_talk_s"`
}

// Run processes in through a Chain built from cfg exactly as a call does:
// frames of in.Frame, each speaker frame handed to ProcessRender stamped
// with its playout time and each microphone frame to ProcessCapture
// stamped with its capture time, on one clock. It returns what would be
// sent (as long as Mic, cut to whole frames) and the measurements.
func Run(cfg Config, in RunInput) ([]int16, Report, error) {
	if in.Frame == 0 {
		in.Frame = audio.Frame20ms
	}
	if err := audio.ValidFrameDuration(in.Frame); err != nil {
		return nil, Report{}, err
	}
	c, err := New(cfg)
	if err != nil {
		return nil, Report{}, err
	}
	defer c.Close()
	c.inline = true
	n := audio.SamplesPer(in.Frame)
	frames := len(in.Mic) / n
	out := make([]int16, frames*n)
	copy(out, in.Mic)
	far := make([]int16, n)
	t0 := time.Unix(0, 0)
	for k := range frames {
		at := t0.Add(time.Duration(k) * in.Frame)
		clear(far)
		if k*n < len(in.Far) {
			copy(far, in.Far[k*n:])
		}
		c.ProcessRender(far, at)
		if err := c.ProcessCapture(out[k*n:(k+1)*n], at); err != nil {
			return nil, Report{}, err
		}
	}
	rep := Report{Stats: c.Stats(), Seconds: float64(len(out)) / audio.SampleRate}
	measure(&rep, in.Far, in.Mic[:len(out)], in.Near, out)
	return out, rep, nil
}

// Activity detection on 10 ms frames: a frame is active when its level is
// within activeRange of the signal's loudest frame (and above an absolute
// floor), held for hangover frames after it.
const (
	activeRange = 35.0 // dB
	activeFloor = 30.0 // RMS, about -61 dBFS
	hangover    = 5
	convWindow  = 50 // frames: 0.5 s
	convergedDB = 20 // echo loss enhancement that counts as converged
)

func activity(x []int16, frames int) []bool {
	e := make([]float64, frames)
	peak := 0.0
	for f := range frames {
		e[f] = energy(x, f)
		peak = max(peak, e[f])
	}
	thr := max(peak*math.Pow(10, -activeRange/10), activeFloor*activeFloor*subframe)
	act := make([]bool, frames)
	hold := 0
	for f := range frames {
		if e[f] > thr {
			hold = hangover + 1
		}
		if hold > 0 {
			act[f] = true
			hold--
		}
	}
	return act
}

// energy is the energy of 10 ms frame f of x (0 past its end).
func energy(x []int16, f int) float64 {
	var s float64
	for i := f * subframe; i < (f+1)*subframe && i < len(x); i++ {
		s += float64(x[i]) * float64(x[i])
	}
	return s
}

func db(num, den float64) float64 {
	if num <= 0 || den <= 0 {
		return 0
	}
	return 10 * math.Log10(num/den)
}

func measure(rep *Report, far, mic, near, out []int16) {
	frames := len(out) / subframe
	farAct := activity(far, frames)
	var nearAct []bool
	if near != nil {
		nearAct = activity(near, frames)
		rep.FarOnly = true
	}
	var only []int // far-end-only frames
	first := -1
	var dtOut, dtNear []int16
	for f := range frames {
		if farAct[f] && first < 0 {
			first = f
		}
		switch {
		case farAct[f] && (nearAct == nil || !nearAct[f]):
			only = append(only, f)
		case farAct[f] && nearAct[f]:
			dtOut = append(dtOut, out[f*subframe:(f+1)*subframe]...)
			dtNear = append(dtNear, near[f*subframe:min(len(near), (f+1)*subframe)]...)
		}
	}
	rep.DoubleTalkS = float64(len(dtOut)) / audio.SampleRate
	rep.NearSimilarity = -1
	if len(dtOut) > 0 {
		rep.NearSimilarity = round(similarity(dtNear, dtOut, maxChainDelay), 3)
	}
	rep.ConvergenceS = -1
	// The echo loss of consecutive 0.5 s stretches of far-end-only audio.
	var win []float64
	var winEnd []int
	for w := 0; w+convWindow <= len(only); w += convWindow {
		var em, eo float64
		for _, f := range only[w : w+convWindow] {
			em += energy(mic, f)
			eo += energy(out, f)
		}
		win = append(win, db(em, eo))
		winEnd = append(winEnd, only[w+convWindow-1])
	}
	if len(win) == 0 {
		return
	}
	late := append([]float64(nil), win[len(win)/2:]...)
	sort.Float64s(late)
	steady := late[len(late)/2]
	from := len(only)
	for i, v := range win {
		if v >= min(steady-3, convergedDB) {
			rep.ConvergenceS = round(float64(winEnd[i]-first+1)/100, 2)
			from = (i + 1) * convWindow
			break
		}
	}
	if from >= len(only) {
		from = 0 // converged in the last stretch only: report the whole
	}
	var em, eo float64
	for _, f := range only[from:] {
		em += energy(mic, f)
		eo += energy(out, f)
	}
	rep.ERLEdB = round(db(em, eo), 1)
	rep.ERLEFrames = len(only) - from
}

// maxChainDelay bounds the delay the chain's libraries add (speexdsp: one
// 10 ms frame; WebRTC's band splitting: 8 ms).
const maxChainDelay = 2 * subframe

// similarity is the largest normalised correlation of a with b delayed by
// 0..maxLag samples (through one FFT).
func similarity(a, b []int16, maxLag int) float64 {
	m := min(len(a), len(b))
	if m <= maxLag {
		return 0
	}
	n := 1
	for n < m+maxLag {
		n <<= 1
	}
	x, y := make([]float64, n), make([]float64, n)
	for i := range m {
		x[i], y[i] = float64(a[i]), float64(b[i])
	}
	fft := fourier.NewFFT(n)
	cx, cy := fft.Coefficients(nil, x), fft.Coefficients(nil, y)
	for i := range cx {
		cy[i] *= cmplx.Conj(cx[i])
	}
	cc := fft.Sequence(nil, cy)
	// Energies of each overlap from prefix sums.
	pa, pb := make([]float64, m+1), make([]float64, m+1)
	for i := range m {
		pa[i+1] = pa[i] + x[i]*x[i]
		pb[i+1] = pb[i] + y[i]*y[i]
	}
	best := 0.0
	for lag := 0; lag <= maxLag; lag++ {
		ea, eb := pa[m-lag], pb[m]-pb[lag]
		if ea > 0 && eb > 0 {
			best = max(best, cc[lag]/float64(n)/math.Sqrt(ea*eb))
		}
	}
	return best
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// String is a one-line summary of the report.
func (r Report) String() string {
	return fmt.Sprintf("engine %s %v: echo delay %.1f ms, ERLE %.1f dB over %d frames (far-only %v), converged %.2f s, near similarity %.3f over %.1f s of double talk, %.1f us per 10 ms frame",
		r.Engine, r.Stages, r.EchoDelayMs, r.ERLEdB, r.ERLEFrames, r.FarOnly, r.ConvergenceS, r.NearSimilarity, r.DoubleTalkS, r.ProcessUsPerFrame)
}
