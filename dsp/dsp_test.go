//go:build cgo

package dsp

import (
	"errors"
	"fmt"
	"github.com/peercall/peercall/internal/testutil"
	"syscall"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
)

// TestEchoCancellation runs the call's chain on a far-end talker heard
// through a synthetic room (300 ms of reverberation, the echo 6 dB below
// the speaker, 30 to 150 ms of delay the timestamps do not account for),
// alone and with a near-end talker over it, and checks that the echo is
// found and removed while the near end comes through.
func TestEchoCancellation(t *testing.T) {
	testutil.SkipOfflineUnderRace(t)
	for _, tc := range []struct {
		delay      float64
		doubleTalk bool
	}{
		{0.03, false}, {0.09, false}, {0.15, false},
		{0.03, true}, {0.09, true}, {0.15, true},
	} {
		t.Run(fmt.Sprintf("delay=%.0fms/doubletalk=%v", tc.delay*1000, tc.doubleTalk), func(t *testing.T) {
			sc := testaudio.NewEchoScene(testaudio.Room{Delay: tc.delay, IRLen: 0.3, RT60: 0.3, GainDB: -6, Seed: 1}, tc.doubleTalk)
			out, rep, err := Run(All(), RunInput{Far: sc.Far, Mic: sc.Mic, Near: sc.Near})
			if err != nil {
				t.Fatal(err)
			}
			t.Log(rep)
			if d := rep.EchoDelayMs - tc.delay*1000; d < -2 || d > 10 {
				t.Errorf("estimated echo delay %.1f ms, the room's is %.0f ms", rep.EchoDelayMs, tc.delay*1000)
			}
			if rep.ERLEdB < 25 {
				t.Errorf("ERLE %.1f dB over far-end-only stretches after convergence, want >= 25", rep.ERLEdB)
			}
			if rep.ConvergenceS < 0 || rep.ConvergenceS > 3 {
				t.Errorf("converged after %.2f s, want within 3 s of the far end's first speech", rep.ConvergenceS)
			}
			if !tc.doubleTalk {
				return
			}
			// The near end during double talk, scored as calls are.
			from := 8 * audio.SampleRate
			sim, lag := testaudio.Similarity(sc.Near[from:], out[from:], audio.SampleRate/20)
			t.Logf("near-end similarity during double talk %.3f (lag %d samples); the chain's own figure %.3f", sim, lag, rep.NearSimilarity)
			if sim < 0.75 || rep.NearSimilarity < 0.75 {
				t.Errorf("near-end similarity during double talk %.3f (chain %.3f), want >= 0.75", sim, rep.NearSimilarity)
			}
		})
	}
}

// TestNoiseSuppression: speech with white or babble noise at 5 dB SNR
// through the high-pass filter and noise suppression.
func TestNoiseSuppression(t *testing.T) {
	testutil.SkipOfflineUnderRace(t)
	for _, tc := range []struct {
		noise   string
		minGain float64 // dB of SNR gained
		minSim  float64
	}{
		{"white", 10, 0.85},
		{"babble", 0, 0.75},
	} {
		t.Run(tc.noise, func(t *testing.T) {
			clean, mixed := testaudio.Noisy(tc.noise, 5)
			out, _, err := Run(Config{HighPass: true, NoiseSuppress: true}, RunInput{Mic: mixed})
			if err != nil {
				t.Fatal(err)
			}
			in, got := snr(clean, mixed), snr(clean, out)
			simIn, _ := testaudio.Similarity(clean, mixed, 0)
			sim, lag := testaudio.Similarity(clean, out, audio.SampleRate/20)
			t.Logf("%s noise: SNR %.1f dB -> %.1f dB (gain %.1f dB); similarity to the clean speech %.3f -> %.3f (lag %d)", tc.noise, in, got, got-in, simIn, sim, lag)
			if got-in < tc.minGain {
				t.Errorf("SNR gain %.1f dB, want >= %.0f", got-in, tc.minGain)
			}
			if sim < tc.minSim {
				t.Errorf("similarity to the clean speech %.3f, want >= %.2f", sim, tc.minSim)
			}
		})
	}
}

// TestAutoGain: a quiet talker comes out louder, a loud one is not
// clipped.
func TestAutoGain(t *testing.T) {
	speech := testaudio.MustSpeech("alice")
	for _, tc := range []struct {
		name   string
		gainDB float64
		louder bool
	}{{"quiet", -24, true}, {"normal", 0, false}} {
		t.Run(tc.name, func(t *testing.T) {
			x := make([]int16, len(speech))
			g := pow10(tc.gainDB / 20)
			for i, v := range speech {
				x[i] = testaudio.Clamp16(float64(v) * g)
			}
			out, _, err := Run(Config{AutoGain: true}, RunInput{Mic: x})
			if err != nil {
				t.Fatal(err)
			}
			frames := len(out) / subframe
			var ein, eout float64
			for f := frames / 2; f < frames; f++ { // after it adapted
				ein += energy(x, f)
				eout += energy(out, f)
			}
			change := db(eout, ein)
			t.Logf("%s talker: level changed by %+.1f dB", tc.name, change)
			if tc.louder && change < 6 {
				t.Errorf("a talker 24 dB down was raised by %.1f dB, want >= 6", change)
			}
			if !tc.louder && change > 6 {
				t.Errorf("a normal talker was raised by %.1f dB, want <= 6", change)
			}
			sim, _ := testaudio.Similarity(x, out, audio.SampleRate/20)
			if sim < 0.85 {
				t.Errorf("similarity to the input %.3f, want >= 0.85", sim)
			}
		})
	}
}

func pow10(x float64) float64 { return exp10(x) }

func TestFrameSize(t *testing.T) {
	c, err := New(All())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, n := range []int{480, 960} {
		if err := c.ProcessCapture(make([]int16, n), time.Now()); err != nil {
			t.Errorf("%d samples: %v", n, err)
		}
	}
	for _, n := range []int{0, 100, 500} {
		if err := c.ProcessCapture(make([]int16, n), time.Now()); err == nil {
			t.Errorf("%d samples: accepted", n)
		}
	}
}

func TestUnknownEngine(t *testing.T) {
	_, err := New(Config{EchoCancel: true, Engine: "nope"})
	if err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("unknown engine: %v", err)
	}
}

// BenchmarkChain is the chain's time per 10 ms frame (ns/op is one
// frame) on far-end speech with its echo, for each engine of the build:
//
//	go test -run '^$' -bench Chain -benchtime 2000x ./dsp/
//
// cpuTime is the process's CPU time so far (user and system, every
// thread: the chain's estimator goroutine too). Unlike ns/op it does not
// grow when other processes hold the cores.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkChain is the chain's time per 10 ms frame (ns/op, wall) and
// its CPU (cpu-us/frame, which a loaded machine does not inflate):
//
//	go test -run '^$' -bench Chain -benchtime 3000x ./dsp/
func BenchmarkChain(b *testing.B) {
	sc := testaudio.NewEchoScene(testaudio.Room{Delay: 0.09, IRLen: 0.3, RT60: 0.3, GainDB: -6, Seed: 1}, true)
	for _, eng := range Engines() {
		for _, tc := range []struct {
			name string
			cfg  Config
		}{{"all", All()}, {"aec", Config{EchoCancel: true}}, {"ns", Config{NoiseSuppress: true}}, {"agc", Config{AutoGain: true}}, {"hpf", Config{HighPass: true}}} {
			b.Run(eng+"/"+tc.name, func(b *testing.B) {
				cfg := tc.cfg
				cfg.Engine = eng
				c, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				frame := make([]int16, subframe)
				t0 := time.Now()
				frames := len(sc.Mic) / subframe
				b.ResetTimer()
				cpu0 := cpuTime(b)
				for i := range b.N {
					f := i % frames
					at := t0.Add(time.Duration(i) * 10 * time.Millisecond)
					c.ProcessRender(sc.Far[f*subframe:(f+1)*subframe], at)
					copy(frame, sc.Mic[f*subframe:])
					if err := c.ProcessCapture(frame, at); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-us/frame")
			})
		}
	}
}

// TestLiveChainFindsDelay drives a chain as a call does (render and
// capture on two goroutines, the delay estimator's correlations on its
// own), and checks the echo delay is found and the echo removed.
func TestLiveChainFindsDelay(t *testing.T) {
	sc := testaudio.NewEchoScene(testaudio.Room{Delay: 0.12, IRLen: 0.3, RT60: 0.3, GainDB: -6, Seed: 3}, false)
	c, err := New(All())
	if err != nil {
		t.Fatal(err)
	}
	n := audio.SamplesPer(audio.Frame20ms)
	frames := len(sc.Mic) / n
	t0 := time.Now()
	tick, played := make(chan int), make(chan struct{})
	done := make(chan struct{})
	go func() { // the speaker, on its own goroutine, a frame at a time
		defer close(done)
		for k := range tick {
			c.ProcessRender(sc.Far[k*n:(k+1)*n], t0.Add(time.Duration(k)*audio.Frame20ms))
			played <- struct{}{}
		}
	}()
	out := make([]int16, frames*n)
	copy(out, sc.Mic)
	for k := range frames {
		tick <- k // a frame is written to the speaker before its echo is captured
		<-played
		if err := c.ProcessCapture(out[k*n:(k+1)*n], t0.Add(time.Duration(k)*audio.Frame20ms)); err != nil {
			t.Fatal(err)
		}
		if k%25 == 0 {
			time.Sleep(time.Millisecond) // let the estimator's goroutine answer, as real time would
		}
	}
	close(tick)
	<-done
	st := c.Stats()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	var rep Report
	measure(&rep, sc.Far, sc.Mic[:len(out)], sc.Near, out)
	t.Logf("live chain: %+v; ERLE %.1f dB", st, rep.ERLEdB)
	// The estimate lands a few frames later than offline (when the
	// goroutine answers), so the canceller converges a little later: the
	// figure to meet is lower than TestEchoCancellation's.
	if st.EchoDelayMs < 118 || st.EchoDelayMs > 130 || rep.ERLEdB < 15 {
		t.Errorf("echo delay %.1f ms (room 120 ms), ERLE %.1f dB: want the delay found and >= 15 dB", st.EchoDelayMs, rep.ERLEdB)
	}
	if st.CaptureFrames != uint64(2*frames) || st.RenderFrames != uint64(2*frames) {
		t.Errorf("counted %d capture and %d render 10 ms frames, want %d each", st.CaptureFrames, st.RenderFrames, 2*frames)
	}
}

// TestChainDelay: the chain adds no more delay than the 20 ms call frame
// it processes: the lag at which its output best matches the microphone
// (or, with a far end talking, the near end) is at most 960 samples. The
// WebRTC module's stages delay the signal by their own block overlap:
// noise suppression 7 ms, echo cancellation 8 ms, both 14 ms, more than
// the library's own 10 ms frame (see the log).
func TestChainDelay(t *testing.T) {
	sc := testaudio.NewEchoScene(testaudio.Room{Delay: 0.03, IRLen: 0.3, RT60: 0.3, GainDB: -6, Seed: 1}, true)
	for _, tc := range []struct {
		name string
		cfg  Config
	}{{"all, double talk", All()}, {"noise suppression", Config{NoiseSuppress: true}}, {"echo cancellation, double talk", Config{EchoCancel: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			mic := testaudio.MustSpeech("alice")
			in := RunInput{Mic: mic}
			if tc.cfg.EchoCancel {
				in = RunInput{Far: sc.Far, Mic: sc.Mic, Near: sc.Near}
			}
			out, _, err := Run(tc.cfg, in)
			if err != nil {
				t.Fatal(err)
			}
			ref := mic
			if tc.cfg.EchoCancel {
				ref = sc.Near // what should remain
			}
			sim, lag := testaudio.Similarity(ref, out, 4*subframe)
			t.Logf("%s: output matches the microphone %.3f at a lag of %d samples (%.1f ms)", tc.name, sim, lag, float64(lag)/48)
			if frame := 2 * subframe; lag > frame {
				t.Errorf("the chain delays the microphone by %d samples, more than its %d-sample frame", lag, frame)
			}
		})
	}
}
