package netlab

import (
	"math"
	"testing"
	"time"
)

// TestProfilesImpose measures what each profile's shaper imposes on a
// voice stream (one packet every 20 ms): loss rate, mean loss burst,
// mean delay, jitter (RFC 3550 interarrival jitter), reordering. Loss and
// delay must be the profile's, within the sampling error of 50,000
// packets; bursty profiles must lose in bursts, and profiles whose jitter
// exceeds the packet spacing must reorder.
func TestProfilesImpose(t *testing.T) {
	const n, spacing = 50000, 20 * time.Millisecond
	for _, name := range ProfileNames() {
		p := Profiles[name]
		t.Run(name, func(t *testing.T) {
			s, err := NewShaper(p, 1)
			if err != nil {
				t.Fatal(err)
			}
			var lost, bursts, run, reordered int
			var sum, sumSq, jitter float64
			var lastArrival time.Duration = -1
			var lastTransit float64
			first := true
			for i := range n {
				l, d := s.Next()
				if l {
					lost++
					if run == 0 {
						bursts++
					}
					run++
					continue
				}
				run = 0
				sent := time.Duration(i) * spacing
				arrival := sent + d
				if arrival < lastArrival {
					reordered++
				}
				lastArrival = max(lastArrival, arrival)
				x := float64(d)
				sum += x
				sumSq += x * x
				if !first {
					jitter += (math.Abs(x-lastTransit) - jitter) / 16
				}
				lastTransit, first = x, false
			}
			got := n - lost
			lossRate := float64(lost) / n
			meanBurst := 0.0
			if bursts > 0 {
				meanBurst = float64(lost) / float64(bursts)
			}
			mean := time.Duration(sum / float64(got))
			sd := time.Duration(math.Sqrt(max(sumSq/float64(got)-(sum/float64(got))*(sum/float64(got)), 0)))
			t.Logf("%s: loss %.3f%% (want %.3f%%) in bursts of %.2f (want %.2f); delay %v ± %v (want %v ± %v, clipped at 0); RFC 3550 jitter %v; reordered %.2f%%",
				name, 100*lossRate, 100*p.Loss, meanBurst, p.MeanBurst, mean.Round(time.Microsecond), sd.Round(time.Microsecond),
				p.Delay, p.Jitter, time.Duration(jitter).Round(time.Microsecond), 100*float64(reordered)/float64(got))
			if tol := 4*math.Sqrt(p.Loss*(1-p.Loss)*p.MeanBurst*2/n) + 1e-9; math.Abs(lossRate-p.Loss) > tol {
				t.Errorf("loss %.4f, want %.4f ± %.4f", lossRate, p.Loss, tol)
			}
			if p.Loss > 0 && math.Abs(meanBurst-p.MeanBurst) > 0.25*p.MeanBurst {
				t.Errorf("mean loss burst %.2f packets, want %.2f", meanBurst, p.MeanBurst)
			}
			// Clipping at 0 raises the mean a little when Jitter is near
			// Delay (bad-wifi): allow a third of the jitter.
			if diff := (mean - p.Delay).Abs(); diff > p.Jitter/3+100*time.Microsecond {
				t.Errorf("mean delay %v, want %v", mean, p.Delay)
			}
			if p.Jitter > spacing/2 && reordered == 0 {
				t.Errorf("jitter %v over %v spacing reordered nothing", p.Jitter, spacing)
			}
			if p.Jitter == 0 && reordered > 0 {
				t.Errorf("no jitter, yet %d packets reordered", reordered)
			}
		})
	}
}

func TestNewShaperRefuses(t *testing.T) {
	for _, p := range []Profile{
		{Name: "neg-loss", Loss: -0.1, MeanBurst: 1},
		{Name: "all-lost", Loss: 1, MeanBurst: 1},
		{Name: "no-burst", Loss: 0.1},
		{Name: "neg-delay", Delay: -time.Millisecond},
	} {
		if _, err := NewShaper(p, 1); err == nil {
			t.Errorf("NewShaper(%+v) accepted it", p)
		}
	}
}
