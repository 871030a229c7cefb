package dsp

import (
	"math"
	"math/cmplx"

	"gonum.org/v1/gonum/dsp/fourier"
)

// delayEstimator finds the echo's delay: how much later than the
// timestamps say the speaker's sound arrives in the microphone (the
// acoustic path, and a device latency the timestamps miss). It keeps both
// signals decimated to 4 kHz (speech's energy is below 4 kHz) and, every
// estimateEvery of far-end activity, cross-correlates the last two seconds
// with the PHAT weighting (GCC-PHAT: only the phase of each bin counts, so
// the peak is sharp for speech). An estimate is taken when its peak stands
// well clear of the rest and two runs in a row agree.
type delayEstimator struct {
	mic, ref  []float64 // decimated histories, newest last
	acc       [2]float64
	accN      int
	sinceRun  int // decimated samples since the last run
	activeRef int // active decimated ref samples in the window
	fft       *fourier.FFT
	cx, cy    []complex128
	misses    int // runs in a row without a clear peak
	candidate int // the last run's lag (decimated samples), -1 none
	estimate  int // the accepted lag, -1 none
	peakRatio float64
	maxLag    int
	window    int
}

const (
	decim         = 12            // 48 kHz -> 4 kHz
	decRate       = 48000 / decim // 4000
	estWindow     = 2 * decRate   // 2 s of microphone
	estimateEvery = decRate / 2   // 0.5 s, until an estimate is found
	recheckEvery  = 2 * decRate   // 2 s once one is
	// After missFree runs in a row without a clear peak (no echo to find:
	// a headset, a muted speaker, a far end that is not heard) the
	// interval doubles with each further miss, up to maxBackoff times
	// estimateEvery (4 s); a clear peak brings it back to 0.5 s. The
	// correlation (three 16k-point FFTs, a few ms) is most of the
	// chain's Go-side CPU when it runs every 0.5 s.
	missFree     = 4
	maxBackoff   = 8
	minPeakRatio = 6.0 // peak over the correlation's RMS
	agreeWithin  = 4   // decimated samples (1 ms)
	firstArrival = 0.5 // of the peak: where the echo starts
)

func newDelayEstimator() *delayEstimator {
	maxLag := int(MaxEchoDelay.Seconds() * decRate)
	// The lags searched, 0..maxLag, read the reference up to
	// estWindow+maxLag samples on: a circular correlation of that size
	// does not wrap into them, so it need not be padded to the linear
	// correlation's full length (which doubled the FFTs to 32k points).
	n := 1
	for n < estWindow+maxLag {
		n <<= 1
	}
	return &delayEstimator{
		fft:       fourier.NewFFT(n),
		candidate: -1, estimate: -1, maxLag: maxLag, window: estWindow,
	}
}

// add takes one 10 ms frame of microphone and of the reference at the same
// timeline positions (lag 0) and says whether a correlation is due.
func (d *delayEstimator) add(mic, ref []int16) bool {
	// The sums run in locals: the race detector (CI's tests) instruments
	// every access to a field, not a register.
	am, ar, n := d.acc[0], d.acc[1], d.accN
	ref = ref[:len(mic)]
	for i, m := range mic {
		am += float64(m)
		ar += float64(ref[i])
		n++
		if n == decim {
			d.push(am/decim, ar/decim)
			am, ar, n = 0, 0, 0
		}
	}
	d.acc, d.accN = [2]float64{am, ar}, n
	every := estimateEvery * min(maxBackoff, 1<<max(0, d.misses-missFree+1))
	if d.misses < missFree {
		every = estimateEvery
	}
	if d.estimate >= 0 {
		every = recheckEvery // found: only watch for a change
	}
	if d.sinceRun >= every && len(d.mic) >= decRate && d.activeRef > decRate/4 {
		d.sinceRun = 0
		return true
	}
	return false
}

// corrJob is one correlation's input: the microphone window in x, the
// reference window in y (both zero-padded to the FFT size), and the
// reference index of x[0] at lag 0.
type corrJob struct {
	x, y      []float64
	lagOffset int
}

// prepare copies the windows of the next correlation into job's buffers.
func (d *delayEstimator) prepare(job *corrJob) {
	// The window grows to d.window as history comes in, leaving room
	// for lags of up to half the history meanwhile.
	nm := len(d.mic)
	L := d.maxLag
	w := min(d.window, nm-min(L, nm/2))
	from := max(0, nm-w-L)
	job.lagOffset = nm - w - from
	clear(job.x)
	clear(job.y)
	copy(job.x, d.mic[nm-w:])
	copy(job.y, d.ref[from:nm])
}

func (d *delayEstimator) newJob() *corrJob {
	return &corrJob{x: make([]float64, d.fft.Len()), y: make([]float64, d.fft.Len())}
}

func (d *delayEstimator) push(m, r float64) {
	d.mic = append(d.mic, m)
	d.ref = append(d.ref, r)
	if len(d.mic) > 2*(d.window+d.maxLag) {
		k := len(d.mic) - (d.window + d.maxLag)
		d.mic = d.mic[:copy(d.mic, d.mic[k:])]
		d.ref = d.ref[:copy(d.ref, d.ref[k:])]
	}
	d.sinceRun++
	// Far-end activity over the window, against a slowly rising floor.
	if math.Abs(r) > 30 {
		d.activeRef++
	}
	if len(d.ref) > d.window && math.Abs(d.ref[len(d.ref)-1-d.window]) > 30 {
		d.activeRef--
	}
}

// correlate finds the lag of job's echo (decimated samples) and how
// clearly its peak stands out (peak over the correlation's RMS). It
// overwrites job.x. It touches only the estimator's FFT state, so it can
// run on another goroutine than add and accept, one job at a time.
func (d *delayEstimator) correlate(job *corrJob) (int, float64) {
	L, lagOffset := d.maxLag, job.lagOffset
	d.cx = d.fft.Coefficients(d.cx, job.x)
	d.cy = d.fft.Coefficients(d.cy, job.y)
	var maxMag float64
	for i := range d.cx {
		d.cy[i] *= cmplx.Conj(d.cx[i]) // cc[k] = sum m[i] r[i+k]
		maxMag = max(maxMag, cmplx.Abs(d.cy[i]))
	}
	if maxMag == 0 {
		return -1, 0
	}
	for i, v := range d.cy {
		d.cy[i] = v / complex(cmplx.Abs(v)+1e-3*maxMag, 0)
	}
	cc := d.fft.Sequence(job.x, d.cy)
	// k = lagOffset - lag, lag in [0, min(L, lagOffset)]
	best, bestLag := math.Inf(-1), -1
	var sum2 float64
	n := 0
	for lag := 0; lag <= L && lag <= lagOffset; lag++ {
		v := cc[lagOffset-lag]
		sum2 += v * v
		n++
		if v > best {
			best, bestLag = v, lag
		}
	}
	if n == 0 || best <= 0 {
		return -1, 0
	}
	// The strongest arrival may be a reflection: the echo starts at the
	// earliest lag that comes near it.
	for lag := 0; lag < bestLag; lag++ {
		if cc[lagOffset-lag] >= firstArrival*best {
			bestLag = lag
			break
		}
	}
	return bestLag, best / math.Sqrt(sum2/float64(n))
}

// accept takes a correlation's result and says whether the estimate
// changed: a clear peak that the previous run agrees with.
func (d *delayEstimator) accept(lag int, ratio float64) bool {
	d.peakRatio = ratio
	if lag < 0 || ratio < minPeakRatio {
		d.candidate = -1
		d.misses++
		return false
	}
	d.misses = 0
	agree := d.candidate >= 0 && abs(lag-d.candidate) <= agreeWithin
	d.candidate = lag
	if !agree || (d.estimate >= 0 && abs(lag-d.estimate) <= agreeWithin) {
		return false
	}
	d.estimate = lag
	return true
}

// delaySamples is the estimate at 48 kHz, or -1.
func (d *delayEstimator) delaySamples() int {
	if d.estimate < 0 {
		return -1
	}
	return d.estimate * decim
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
