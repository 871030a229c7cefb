package media

import (
	"math"
	"testing"
	"time"
)

// TestEModelReference checks the E-model against figures G.107 states:
// all defaults rate R = 93.2 (MOS 4.41); the R-to-MOS curve (Annex B);
// the effective equipment impairment of G.113's G.729A example (Ie 11,
// Bpl 19) at 2 % random loss, 19; and the delay curve of G.107 / G.114
// Figure 1 (R about 90 at 150 ms, under 70 at 400 ms).
func TestEModelReference(t *testing.T) {
	for _, tc := range []struct {
		name     string
		got      float64
		want, at float64
	}{
		{"defaults R", EModel{}.R(), 93.2, 0.1},
		{"defaults MOS", MOSFromR(EModel{}.R()), 4.41, 0.01},
		{"MOS at R 50", MOSFromR(50), 2.575, 0.001},
		{"MOS at R 70", MOSFromR(70), 3.597, 0.001},
		{"MOS at R 0", MOSFromR(-5), 1, 0},
		{"MOS at R 100+", MOSFromR(120), 4.5, 0},
		{"G.729A Ie,eff at 2 %", EModel{}.R() - EModel{LossPercent: 2, Ie: 11, Bpl: 19}.R(), 19, 0.01},
		{"burst ratio 2 at 2 %", EModel{}.R() - EModel{LossPercent: 2, BurstR: 2, Ie: 11, Bpl: 19}.R(), 11 + 84*2/(1+19.0), 0.01},
		{"delay 150 ms", EModel{OneWayDelayMs: 150}.R(), 90, 2},
		{"delay 400 ms", EModel{OneWayDelayMs: 400}.R(), 65, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if math.Abs(tc.got-tc.want) > tc.at {
				t.Errorf("got %.3f, want %.3f ± %.3f", tc.got, tc.want, tc.at)
			}
		})
	}
}

// TestQualityFallsWithImpairment: the call's MOS falls as loss, burstiness
// and delay rise.
func TestQualityFallsWithImpairment(t *testing.T) {
	base := Stats{PacketsReceived: 1000, PlayoutDelayMs: 40, RTTMs: 2}
	clean := quality(base, 20*time.Millisecond)
	t.Logf("clean: %+v", clean)
	if clean.MOS < 4.3 || clean.OneWayDelayMs != 20+6.5+40+1 {
		t.Errorf("clean path: %+v, want MOS >= 4.3 and delay 67.5 ms", clean)
	}
	prev := clean.MOS
	for _, lost := range []uint64{10, 30, 100, 200} {
		st := base
		st.PacketsReceived -= lost
		st.PacketsLost, st.LossRuns, st.LossRate = lost, lost, float64(lost)/1000
		q := quality(st, 20*time.Millisecond)
		t.Logf("%d lost: %+v", lost, q)
		if q.MOS >= prev {
			t.Errorf("%d of 1000 lost: MOS %.2f, not below %.2f", lost, q.MOS, prev)
		}
		prev = q.MOS
		bursty := st
		bursty.LossRuns = lost / 4
		if b := quality(bursty, 20*time.Millisecond); b.R >= q.R || b.BurstRatio <= 1 {
			t.Errorf("%d lost in bursts of 4: %+v, want a lower R than random loss's %.2f", lost, b, q.R)
		}
		fec := st
		fec.FECRecovered = lost / 2
		if f := quality(fec, 20*time.Millisecond); f.R <= q.R {
			t.Errorf("%d lost, half rebuilt by FEC: R %.2f, want above %.2f", lost, f.R, q.R)
		}
	}
}
