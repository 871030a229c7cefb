//go:build cgo

package dsp

import (
	"fmt"
	"github.com/peercall/peercall/internal/testutil"
	"strings"
	"testing"

	"github.com/peercall/peercall/internal/testaudio"
)

// TestCompareEngines runs every engine of this build on the same data and
// logs the comparison table of docs/architecture.md (build with -tags
// speexdsp to have speexdsp beside the WebRTC module):
//
//	go test -tags speexdsp -run CompareEngines -v ./dsp/
//
// It asserts only what both engines do: find the echo's delay.
func TestCompareEngines(t *testing.T) {
	testutil.SkipOfflineUnderRace(t)
	var tab strings.Builder
	fmt.Fprintf(&tab, "\n%-7s %-6s %-7s %8s %8s %8s %8s\n", "engine", "delay", "talk", "ERLE dB", "conv s", "near sim", "us/10ms")
	for _, eng := range Engines() {
		for _, delay := range []float64{0.03, 0.09, 0.15} {
			for _, dt := range []bool{false, true} {
				sc := testaudio.NewEchoScene(testaudio.Room{Delay: delay, IRLen: 0.3, RT60: 0.3, GainDB: -6, Seed: 1}, dt)
				cfg := All()
				cfg.Engine = eng
				_, rep, err := Run(cfg, RunInput{Far: sc.Far, Mic: sc.Mic, Near: sc.Near})
				if err != nil {
					t.Fatal(err)
				}
				talk := "single"
				if dt {
					talk = "double"
				}
				fmt.Fprintf(&tab, "%-7s %4.0fms %-7s %8.1f %8.2f %8.3f %8.1f\n", eng, delay*1000, talk, rep.ERLEdB, rep.ConvergenceS, rep.NearSimilarity, rep.ProcessUsPerFrame)
				if d := rep.EchoDelayMs - delay*1000; d < -2 || d > 10 {
					t.Errorf("%s: estimated echo delay %.1f ms, the room's is %.0f ms", eng, rep.EchoDelayMs, delay*1000)
				}
			}
		}
		for _, noise := range []string{"white", "babble"} {
			clean, mixed := testaudio.Noisy(noise, 5)
			out, rep, err := Run(Config{HighPass: true, NoiseSuppress: true, Engine: eng}, RunInput{Mic: mixed})
			if err != nil {
				t.Fatal(err)
			}
			sim, _ := testaudio.Similarity(clean, out, 2400)
			fmt.Fprintf(&tab, "%-7s %-6s noise: SNR gain %.1f dB, similarity %.3f, %.1f us/10ms\n", eng, noise, snr(clean, out)-snr(clean, mixed), sim, rep.ProcessUsPerFrame)
		}
	}
	t.Log(tab.String())
}
