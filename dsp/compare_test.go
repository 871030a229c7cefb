package dsp

import (
	"fmt"
	"testing"
)

func TestCompareEngines(t *testing.T) {
	for _, eng := range Engines() {
		for _, delay := range []float64{0.03, 0.09, 0.15} {
			for _, dt := range []bool{false, true} {
				sc := newEchoScene(room{delay: delay, irLen: 0.3, rt60: 0.3, gainDB: -6, seed: 1}, dt)
				for _, cfg := range []Config{{HighPass: true, EchoCancel: true}, All()} {
					cfg.Engine = eng
					_, rep, err := Run(cfg, RunInput{Far: sc.far, Mic: sc.mic, Near: sc.near})
					if err != nil {
						t.Fatal(err)
					}
					fmt.Printf("delay %3.0f ms dt %-5v %s\n", delay*1000, dt, rep)
				}
			}
		}
	}
}
