package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/dsp"
	"github.com/peercall/peercall/internal/atomicfile"
)

// dspSynopsis is the dsp command's arguments.
const dspSynopsis = "--far FAR.wav --mic MIC.wav --out OUT.wav [--near NEAR.wav] [--no-aec] [--no-ns] [--no-agc] [--no-hpf] [--frame 20ms] [--json]"

// runDSP runs a call's microphone processing on WAV files: FAR is what the
// speaker played, MIC what the microphone heard meanwhile (both from the
// same instant); OUT gets what the call would have sent.
func runDSP(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "dsp")
	far := fs.String("far", "", "WAV `FILE` the speaker played (any rate, mono or stereo)")
	mic := fs.String("mic", "", "WAV `FILE` the microphone captured, starting at the same instant")
	out := fs.String("out", "", "WAV `FILE` to write what the call would send (48 kHz mono)")
	near := fs.String("near", "", "optional WAV `FILE` of the near-end talker alone: tells double talk from far-end-only stretches")
	noAEC := fs.Bool("no-aec", false, "no echo cancellation")
	noNS := fs.Bool("no-ns", false, "no noise suppression")
	noAGC := fs.Bool("no-agc", false, "no automatic gain control")
	noHPF := fs.Bool("no-hpf", false, "no high-pass filter")
	frame := fs.Duration("frame", audio.Frame20ms, "the call's frame duration: 10ms or 20ms")
	asJSON := fs.Bool("json", false, "print the statistics as one JSON object")
	pos, err := parseArgs(e, fs, args, dspSynopsis)
	if err != nil {
		return err
	}
	if err := exactArgs(fs, pos, 0, dspSynopsis); err != nil {
		return err
	}
	if *far == "" || *mic == "" || *out == "" {
		return usageErrorf("dsp: --far, --mic and --out are required; usage: peercall dsp %s", dspSynopsis)
	}
	if err := audio.ValidFrameDuration(*frame); err != nil {
		return usageErrorf("dsp: --frame: %v", err)
	}
	cfg := dsp.All()
	cfg.EchoCancel, cfg.NoiseSuppress, cfg.AutoGain, cfg.HighPass = !*noAEC, !*noNS, !*noAGC, !*noHPF
	rep, err := processFiles(cfg, *far, *mic, *near, *out, *frame)
	if err != nil {
		if *asJSON {
			return e.printJSONError(err)
		}
		return err
	}
	if *asJSON {
		return e.printJSON(rep)
	}
	printDSPReport(e.stdout, rep, *out)
	return nil
}

func processFiles(cfg dsp.Config, farPath, micPath, nearPath, outPath string, frame time.Duration) (dsp.Report, error) {
	in := dsp.RunInput{Frame: frame}
	var err error
	if in.Far, err = readMono("--far", farPath); err != nil {
		return dsp.Report{}, err
	}
	if in.Mic, err = readMono("--mic", micPath); err != nil {
		return dsp.Report{}, err
	}
	if len(in.Mic) == 0 {
		return dsp.Report{}, &userError{msg: fmt.Sprintf("--mic %s holds no audio", micPath), err: audio.ErrWAVFormat}
	}
	if nearPath != "" {
		if in.Near, err = readMono("--near", nearPath); err != nil {
			return dsp.Report{}, err
		}
	}
	sent, rep, err := dsp.Run(cfg, in)
	if err != nil {
		return dsp.Report{}, fmt.Errorf("dsp: %w", err)
	}
	var b bytes.Buffer
	if err := audio.WriteWAV(&b, audio.WAVInfo{SampleRate: audio.SampleRate, Channels: 1}, sent); err != nil {
		return dsp.Report{}, err
	}
	if err := atomicfile.WriteFile(outPath, b.Bytes(), 0o644); err != nil {
		return dsp.Report{}, fmt.Errorf("write --out %s: %w (is the directory writable?)", outPath, err)
	}
	return rep, nil
}

// readMono reads a WAV file as the call would play it as a microphone:
// downmixed to mono and resampled to 48 kHz.
func readMono(flagName, path string) ([]int16, error) {
	src, err := audio.NewWAVSource(path, false)
	if err != nil {
		return nil, &userError{msg: fmt.Sprintf("%s %s: %v (give a 16-bit PCM WAV file)", flagName, path, err), err: err}
	}
	defer src.Close()
	var s []int16
	f := make([]int16, audio.SamplesPer(audio.Frame10ms))
	for {
		err := src.Read(context.Background(), f)
		if errors.Is(err, io.EOF) {
			return s, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", flagName, path, err)
		}
		s = append(s, f...)
	}
}

func printDSPReport(w io.Writer, r dsp.Report, out string) {
	fmt.Fprintf(w, "processed %.1f s with %v (%s): wrote %s\n", r.Seconds, r.Stages, r.Engine, out)
	if r.EchoDelayMs >= 0 {
		fmt.Fprintf(w, "echo delay:        %.1f ms\n", r.EchoDelayMs)
	} else {
		fmt.Fprintf(w, "echo delay:        not found (no echo, or too little far-end speech)\n")
	}
	which := "far-end-active"
	if r.FarOnly {
		which = "far-end-only"
	}
	fmt.Fprintf(w, "ERLE:              %.1f dB over %.1f s of %s audio after convergence\n", r.ERLEdB, float64(r.ERLEFrames)/100, which)
	if r.ConvergenceS >= 0 {
		fmt.Fprintf(w, "converged after:   %.2f s\n", r.ConvergenceS)
	}
	if r.NearSimilarity >= 0 {
		fmt.Fprintf(w, "near end in double talk: similarity %.3f over %.1f s\n", r.NearSimilarity, r.DoubleTalkS)
	}
	fmt.Fprintf(w, "processing:        %.1f us per 10 ms frame\n", r.ProcessUsPerFrame)
}
