//go:build cgo

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/dsp"
	"github.com/peercall/peercall/internal/testaudio"
)

func writeWAV(t *testing.T, path string, info audio.WAVInfo, s []int16) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := audio.WriteWAV(f, info, s); err != nil {
		t.Fatal(err)
	}
}

var mono48 = audio.WAVInfo{SampleRate: audio.SampleRate, Channels: 1}

// TestDSPCommand runs `peercall dsp` on the echo scenes the dsp tests use
// (the same files), and checks it reports what the chain measures there.
func TestDSPCommand(t *testing.T) {
	for _, tc := range []struct {
		name       string
		delay      float64
		doubleTalk bool
	}{{"single talk 90 ms", 0.09, false}, {"double talk 150 ms", 0.15, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sc := testaudio.NewEchoScene(testaudio.Room{Delay: tc.delay, IRLen: 0.3, RT60: 0.3, GainDB: -6, Seed: 1}, tc.doubleTalk)
			far, mic, near, out := filepath.Join(dir, "far.wav"), filepath.Join(dir, "mic.wav"), filepath.Join(dir, "near.wav"), filepath.Join(dir, "out.wav")
			writeWAV(t, far, mono48, sc.Far)
			writeWAV(t, mic, mono48, sc.Mic)
			writeWAV(t, near, mono48, sc.Near)
			r := runCLI(t, "", "dsp", "--far", far, "--mic", mic, "--near", near, "--out", out, "--json")
			if r.code != 0 {
				t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
			}
			var rep dsp.Report
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatalf("output is not the JSON report: %v\n%s", err, r.stdout)
			}
			t.Logf("peercall dsp: %s", rep)
			_, want, err := dsp.Run(dsp.All(), dsp.RunInput{Far: sc.Far, Mic: sc.Mic, Near: sc.Near})
			if err != nil {
				t.Fatal(err)
			}
			if rep.ERLEdB != want.ERLEdB || rep.EchoDelayMs != want.EchoDelayMs || rep.NearSimilarity != want.NearSimilarity || rep.ConvergenceS != want.ConvergenceS {
				t.Errorf("the command reports %s\nthe chain measures %s", rep, want)
			}
			if rep.ERLEdB < 25 || rep.EchoDelayMs < tc.delay*1000-2 || rep.EchoDelayMs > tc.delay*1000+10 {
				t.Errorf("ERLE %.1f dB, echo delay %.1f ms: want >= 25 dB and the room's %.0f ms", rep.ERLEdB, rep.EchoDelayMs, tc.delay*1000)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sent, info, err := audio.ReadWAV(f)
			if err != nil || info != mono48 || len(sent) < len(sc.Mic)-960 || len(sent) > len(sc.Mic)+480 {
				t.Errorf("--out: %d samples %+v, %v; want the %d of --mic (in whole frames) at 48 kHz mono", len(sent), info, err, len(sc.Mic))
			}
		})
	}
}

// TestDSPCommandFiles: other rates and stereo are converted; bad files
// and bad flags get a clear error.
func TestDSPCommandFiles(t *testing.T) {
	dir := t.TempDir()
	speech := testaudio.MustSpeech("alice")[:audio.SampleRate*2]
	// 16 kHz stereo: every third sample, both channels.
	var stereo16k []int16
	for i := 0; i < len(speech); i += 3 {
		stereo16k = append(stereo16k, speech[i], speech[i])
	}
	good := filepath.Join(dir, "good.wav")
	writeWAV(t, good, audio.WAVInfo{SampleRate: 16000, Channels: 2}, stereo16k)
	notWAV := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notWAV, []byte("not a wav file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.wav")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"16 kHz stereo", []string{"--far", good, "--mic", good, "--out", out}, 0, "wrote"},
		{"far not a WAV", []string{"--far", notWAV, "--mic", good, "--out", out}, 1, "--far " + notWAV},
		{"mic missing", []string{"--far", good, "--mic", filepath.Join(dir, "nope.wav"), "--out", out}, 1, "--mic"},
		{"no out", []string{"--far", good, "--mic", good}, 2, "--out"},
		{"bad frame", []string{"--far", good, "--mic", good, "--out", out, "--frame", "15ms"}, 2, "--frame"},
		{"out not writable", []string{"--far", good, "--mic", good, "--out", filepath.Join(notWAV, "out.wav")}, 1, "--out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", append([]string{"dsp"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.want) {
				t.Errorf("exit %d, want %d; output %q %q should name %q", r.code, tc.code, r.stdout, r.stderr, tc.want)
			}
		})
	}
}
