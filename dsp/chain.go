package dsp

import (
	"fmt"
	"sync"
	"time"

	"github.com/peercall/peercall/audio"
)

// Chain is the processing a call runs on its microphone: high-pass, echo
// cancellation, noise suppression, gain control, each when its Config says
// so. It implements Processor. Close releases the library's state.
type Chain struct {
	cfg Config

	// rmu guards the render side: the clock, the render timeline and the
	// ring, held only to place or copy samples, so that the speaker never
	// waits for the microphone's processing.
	rmu      sync.Mutex
	clk      clock
	render   timeline
	played   *ring
	rendered uint64

	// mu guards the capture side.
	mu      sync.Mutex
	eng     engine
	hpf     *highPass
	capture timeline
	est     *delayEstimator
	// The delay estimator's correlations run on their own goroutine
	// (about 1 ms of FFTs every 0.5 s must not hold a frame up); offline
	// (Run) they run inline, so that a run is repeatable.
	inline  bool
	job     *corrJob
	busy    bool
	jobs    chan *corrJob
	results chan [2]float64
	wg      sync.WaitGroup
	shift   int // reference shift in samples: the estimated delay less a margin
	delayMs int // the echo delay the engine is told
	ref     []int16
	sub     []int16
	stats   Stats
	spent   time.Duration
	closed  bool
}

// alignMargin is how much earlier than the estimated echo delay the
// canceller's window starts: room for an echo path whose first arrival is
// a little before its strongest.
const alignMargin = 4 * 48

// toldDelay is the largest echo delay a delay-aware library is told; the
// reference is shifted by the rest.
const toldDelay = 60 * 48

// resetAbove is the change of estimated delay that makes the canceller
// start over instead of re-adapting its filter in place.
const resetAbove = 20 * 48

// New returns the chain cfg describes. A cfg with no stage on gives a
// chain that passes audio through; a stage in a build without cgo gives
// ErrUnavailable.
func New(cfg Config) (*Chain, error) {
	c := &Chain{cfg: cfg, ref: make([]int16, subframe), sub: make([]int16, subframe)}
	c.stats.Stages, c.stats.EchoDelayMs = cfg.Stages(), -1
	if cfg.HighPass {
		c.hpf = newHighPass(HighPassHz, audio.SampleRate)
	}
	if cfg.EchoCancel || cfg.NoiseSuppress || cfg.AutoGain {
		eng, err := newEngine(cfg)
		if err != nil {
			return nil, err
		}
		c.eng = eng
		c.stats.Engine = cfg.Engine
		if c.stats.Engine == "" {
			c.stats.Engine = DefaultEngine
		}
	}
	if cfg.EchoCancel {
		c.played, c.est = newRing(), newDelayEstimator()
		c.job = c.est.newJob()
	}
	return c, nil
}

// startEstimator starts the goroutine of the delay estimator's
// correlations (Close stops it).
func (c *Chain) startEstimator() {
	c.jobs, c.results = make(chan *corrJob), make(chan [2]float64, 1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for job := range c.jobs {
			lag, ratio := c.est.correlate(job)
			c.results <- [2]float64{float64(lag), ratio}
		}
	}()
}

// ProcessRender records a frame the speaker played, whose first sample was
// heard at playedAt.
func (c *Chain) ProcessRender(frame []int16, playedAt time.Time) {
	if c.played == nil {
		return
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	p := c.render.place(c.clk.pos(playedAt), len(frame))
	c.played.write(p, frame)
	c.rendered += uint64(len(frame) / subframe)
}

// ProcessCapture processes a microphone frame (10 or 20 ms) in place; its
// first sample was captured at capturedAt.
func (c *Chain) ProcessCapture(frame []int16, capturedAt time.Time) error {
	if len(frame)%subframe != 0 || len(frame) == 0 {
		return fmt.Errorf("dsp: frame of %d samples: want a multiple of %d (10 ms at %d Hz)", len(frame), subframe, audio.SampleRate)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	start := time.Now()
	c.rmu.Lock()
	at := c.clk.pos(capturedAt)
	c.rmu.Unlock()
	p := c.capture.place(at, len(frame))
	c.process(frame, p)
	c.spent += time.Since(start)
	c.stats.CaptureFrames += uint64(len(frame) / subframe)
	return nil
}

// process runs a frame (one or more 10 ms subframes) at timeline position
// p: the high-pass, then the delay estimator and the reference of each
// subframe, then the library on the whole frame in one C call (a cgo call
// of 50-100 us lets the runtime hand the thread's P to another thread, so
// one call per frame rather than per subframe saves wake-ups too).
func (c *Chain) process(x []int16, p int64) {
	if c.hpf != nil {
		c.hpf.process(x)
	}
	if c.eng == nil {
		return
	}
	var ref []int16
	if c.played != nil {
		if cap(c.ref) < len(x) {
			c.ref = make([]int16, len(x))
		}
		ref = c.ref[:len(x)]
		for off := 0; off < len(x); off += subframe {
			// The delay estimator sees the microphone against the
			// reference at lag 0; the canceller gets it shifted by the
			// estimate.
			q := p + int64(off)
			c.rmu.Lock()
			c.played.read(q, c.sub)
			c.played.read(q-int64(c.shift), ref[off:off+subframe])
			c.rmu.Unlock()
			c.estimate(x[off:off+subframe], c.sub)
		}
	}
	c.eng.process(x, ref, c.delayMs)
}

// estimate feeds the delay estimator and takes its results.
func (c *Chain) estimate(x, ref []int16) {
	due := c.est.add(x, ref)
	if c.inline {
		if due {
			c.est.prepare(c.job)
			lag, ratio := c.est.correlate(c.job)
			if c.est.accept(lag, ratio) {
				c.realign()
			}
		}
		return
	}
	if c.busy {
		select {
		case r := <-c.results:
			c.busy = false
			if c.est.accept(int(r[0]), r[1]) {
				c.realign()
			}
		default:
		}
	}
	if due && !c.busy {
		if c.jobs == nil {
			c.startEstimator()
		}
		c.est.prepare(c.job)
		c.jobs <- c.job
		c.busy = true
	}
}

// realign moves the canceller's reference to the new delay estimate.
func (c *Chain) realign() {
	d := c.est.delaySamples()
	c.stats.EchoDelayMs = float64(d) / 48
	c.stats.DelayChanges++
	if c.eng.delayAware() {
		// Told up to toldDelay, the library aligns itself; beyond, the
		// reference is shifted by the rest.
		c.shift = max(0, d-toldDelay)
		c.delayMs = (d - c.shift + 24) / 48
		return
	}
	shift := max(0, d-alignMargin)
	if abs(shift-c.shift) > resetAbove {
		c.eng.reset()
	}
	c.shift, c.delayMs = shift, alignMargin/48
}

// Stats returns the chain's figures so far.
func (c *Chain) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Stages = append([]string(nil), st.Stages...)
	c.rmu.Lock()
	st.Resyncs = c.render.resyncs + c.capture.resyncs
	st.RenderFrames = c.rendered
	c.rmu.Unlock()
	if st.CaptureFrames > 0 {
		st.ProcessUsPerFrame = float64(c.spent.Nanoseconds()) / 1000 / float64(st.CaptureFrames)
	}
	return st
}

// Close releases the library's state; later frames pass through.
func (c *Chain) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.jobs != nil {
		close(c.jobs)
		c.wg.Wait()
	}
	if c.eng != nil {
		c.eng.close()
	}
	return nil
}
