package media

import (
	"math"
	"time"
)

// The call's estimated quality: the ITU-T G.107 (06/2015) E-model, with
// every parameter at its G.107 default (Table 2: SLR 8, RLR 2, STMR 15,
// LSTR 18, Ds = Dr = 3, TELR 65, WEPL 110, qdu 1, Nc -70, Nfor -64, Ps = Pr
// = 35, A 0; mT 100 ms, sT 1) except what a call measures: the one-way
// (mouth-to-ear) delay, the packet loss as the decoder saw it, how bursty
// it was, and the codec's equipment impairment. All defaults give R = 93.2
// (MOS 4.41), as G.107 states.
//
// Assumptions, stated because they shape the figure:
//   - Scale: the narrowband R scale of G.107 (0..100). Opus is wideband or
//     fullband; the wideband scale of G.107.1 (0..129) has no ITU-T
//     Ie,wb/Bpl for Opus either, and the narrowband MOS is what tools and
//     users compare.
//   - Codec: no ITU-T G.113 (Appendix I) entry for Opus exists. We take
//     Ie = 0 (Opus speech at 20 kbit/s and above rates at or above G.711's
//     quality in listening tests, and G.711's Ie is 0) and Bpl = 25.1, the
//     G.113 Appendix I value of G.711 with packet loss concealment: Opus
//     conceals at least as well, so the figure errs low.
//   - Loss: Ppl counts the frames the decoder had to conceal (lost or
//     late, and not rebuilt by in-band FEC), over the frames expected: a
//     frame FEC rebuilt is heard, a late packet the jitter buffer
//     discarded is not.
//   - Burst: BurstR (G.107 §3.8) = the mean length of loss runs over the
//     mean length random loss of the same rate would give, 1/(1-p).
//   - Delay: Ta = T = one frame (packetisation) + Opus' 6.5 ms look-ahead
//     + the jitter buffer's depth + half the RTCP round trip; Tr = 2T. The
//     sound cards' own buffers are not known here and not counted.

// Opus' E-model parameters (see above).
const (
	OpusIe             = 0
	OpusBpl            = 25.1
	opusLookahead      = 6.5 // ms
	defaultBurstR      = 1
	maxEModelDelayMs   = 10000
	maxEModelLossRatio = 1
)

// Quality is a call's estimated MOS and the inputs it came from, as
// `status --json` and the call summary show them.
type Quality struct {
	// MOS is the estimated mean opinion score (1..4.5, G.107 Annex B)
	// and R the E-model's transmission rating.
	MOS float64 `json:"mos"`
	R   float64 `json:"r"`
	// OneWayDelayMs is the mouth-to-ear delay the model used.
	OneWayDelayMs float64 `json:"one_way_delay_ms"`
	// Loss is the share of frames concealed (Ppl/100), BurstRatio how
	// bursty the loss was (1: random).
	Loss       float64 `json:"loss"`
	BurstRatio float64 `json:"burst_ratio"`
	// Late counts packets the jitter buffer discarded for arriving after
	// their playout time (part of Loss).
	Late uint64 `json:"late"`
	// Codec, Ie and Bpl are the codec and its equipment impairment
	// values.
	Codec string  `json:"codec"`
	Ie    float64 `json:"ie"`
	Bpl   float64 `json:"bpl"`
	// JitterMs is the interarrival jitter (RFC 3550), beside the inputs
	// but not one: the jitter buffer turns it into delay (its depth, in
	// OneWayDelayMs) and late discards (Late).
	JitterMs float64 `json:"jitter_ms"`
}

// EModel holds the inputs of the E-model a call varies.
type EModel struct {
	// OneWayDelayMs is Ta = T (ms); Tr is 2T.
	OneWayDelayMs float64
	// LossPercent is Ppl (%), BurstR the burst ratio (0 means 1).
	LossPercent, BurstR float64
	// Ie and Bpl are the codec's equipment impairment factor and packet
	// loss robustness factor.
	Ie, Bpl float64
}

// R computes the transmission rating factor of G.107 §3.
func (e EModel) R() float64 {
	const (
		slr, rlr, stmr, lstr = 8.0, 2.0, 15.0, 18.0
		ds, telr, wepl, qdu  = 3.0, 65.0, 110.0, 1.0
		nc, nfor, ps, pr     = -70.0, -64.0, 35.0, 35.0
		a, mT, sT            = 0.0, 100.0, 1.0
	)
	t := math.Min(math.Max(e.OneWayDelayMs, 0), maxEModelDelayMs)
	ta, tr := t, 2*t
	// Basic signal-to-noise ratio Ro (§3.2).
	olr := slr + rlr
	nos := ps - slr - ds - 100 + 0.004*sq(ps-olr-ds-14)
	pre := pr + 10*math.Log10(1+math.Pow(10, (10-lstr)/10))
	nor := rlr - 121 + pre + 0.008*sq(pre-35)
	nfo := nfor + rlr
	no := 10 * math.Log10(math.Pow(10, nc/10)+math.Pow(10, nos/10)+math.Pow(10, nor/10)+math.Pow(10, nfo/10))
	ro := 15 - 1.5*(slr+no)
	// Simultaneous impairment Is (§3.3).
	xolr := olr + 0.2*(64+no-rlr)
	iolr := 20 * (math.Pow(1+math.Pow(xolr/8, 8), 1.0/8) - xolr/8)
	stmro := -10 * math.Log10(math.Pow(10, -stmr/10)+math.Exp(-t/4)*math.Pow(10, -telr/10))
	ist := 12*math.Pow(1+math.Pow((stmro-13)/6, 8), 1.0/8) - 28*math.Pow(1+math.Pow((stmro+1)/19.4, 35), 1.0/35) -
		13*math.Pow(1+math.Pow((stmro-3)/33, 13), 1.0/13) + 29
	q := 37 - 15*math.Log10(qdu)
	g := 1.07 + 0.258*q + 0.0602*q*q
	y := (ro-100)/15 + 46/8.4 - g/9
	z := 46.0/30 - g/40
	iq := 15 * math.Log10(1+math.Pow(10, y)+math.Pow(10, z))
	is := iolr + ist + iq
	// Delay impairment Id (§3.4).
	terv := telr - 40*math.Log10((1+t/10)/(1+t/150)) + 6*math.Exp(-0.3*t*t)
	roe := -1.5 * (no - rlr)
	re := 80 + 2.5*(terv-14)
	idte := ((roe-re)/2 + math.Sqrt(sq(roe-re)/4+100) - 1) * (1 - math.Exp(-t))
	rle := 10.5 * (wepl + 7) * math.Pow(tr+1, -0.25)
	idle := (ro-rle)/2 + math.Sqrt(sq(ro-rle)/4+169)
	idd := 0.0
	if ta > mT {
		x := math.Log10(ta/mT) / math.Log10(2)
		idd = 25 * (math.Pow(1+math.Pow(x, 6*sT), 1/(6*sT)) - 3*math.Pow(1+math.Pow(x/3, 6*sT), 1/(6*sT)) + 2)
	}
	id := idte + idle + idd
	// Effective equipment impairment Ie,eff (§3.5).
	ppl := math.Min(math.Max(e.LossPercent, 0), 100)
	burst := e.BurstR
	if burst <= 0 {
		burst = defaultBurstR
	}
	ieEff := e.Ie
	if ppl > 0 {
		ieEff = e.Ie + (95-e.Ie)*ppl/(ppl/burst+e.Bpl)
	}
	return ro - is - id - ieEff + a
}

// MOSFromR maps a rating to the estimated MOS (G.107 Annex B, B-4).
func MOSFromR(r float64) float64 {
	switch {
	case r <= 0:
		return 1
	case r >= 100:
		return 4.5
	}
	return 1 + 0.035*r + r*(r-60)*(100-r)*7e-6
}

func sq(x float64) float64 { return x * x }

// quality estimates the MOS of what this side hears.
func quality(st Stats, frame time.Duration) Quality {
	q := Quality{Codec: "opus", Ie: OpusIe, Bpl: OpusBpl, Late: st.Late, BurstRatio: 1}
	q.OneWayDelayMs = float64(frame)/float64(time.Millisecond) + opusLookahead + st.PlayoutDelayMs + st.RTTMs/2
	if exp := st.PacketsReceived + st.PacketsLost; exp > 0 {
		q.Loss = math.Min(float64(st.PacketsLost-min(st.PacketsLost, st.FECRecovered))/float64(exp), maxEModelLossRatio)
	}
	if st.LossRuns > 0 && st.LossRate > 0 && st.LossRate < 1 {
		q.BurstRatio = float64(st.PacketsLost) / float64(st.LossRuns) * (1 - st.LossRate)
		q.BurstRatio = math.Max(q.BurstRatio, 1)
	}
	q.R = EModel{OneWayDelayMs: q.OneWayDelayMs, LossPercent: 100 * q.Loss, BurstR: q.BurstRatio, Ie: q.Ie, Bpl: q.Bpl}.R()
	q.MOS = MOSFromR(q.R)
	q.R, q.MOS, q.OneWayDelayMs = round2(q.R), round2(q.MOS), round2(q.OneWayDelayMs)
	q.Loss, q.BurstRatio = math.Round(q.Loss*1e4)/1e4, round2(q.BurstRatio)
	q.JitterMs = round2(st.JitterMs)
	return q
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
