package media

import (
	"math/rand/v2"
	"testing"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
)

// seededLoss drops a packet with probability p, decided by the packet's
// sequence number and the seed alone, so two runs drop the same packets
// whatever their timing.
func seededLoss(seed uint64, p float64) func(uint16) bool {
	return func(seq uint16) bool {
		if seq == 0 {
			return false // keep the first packet: playout starts on it
		}
		return rand.New(rand.NewPCG(seed, uint64(seq))).Float64() < p
	}
}

// fecMargin is how much better FEC+PLC must score than PLC alone. Offline
// (TestCodecFECBeatsConcealment) the gap at 10 % loss is about 0.1, and
// through the sessions about 0.05; the lock-step runs are deterministic,
// so any gap above a few hundredths is FEC's doing.
const fecMargin = 0.03

// TestLossFECBeatsPLC sends alice's recording through 10 % seeded packet
// loss twice, once with in-band FEC and once with concealment alone, and
// checks that FEC gives measurably better audio. Both runs step in
// lock-step (see lockstepCall) so that they differ only in FEC.
func TestLossFECBeatsPLC(t *testing.T) {
	const seed = 42
	sent := speechSeconds("alice", callSeconds, audio.Frame20ms)
	drop := seededLoss(seed, 0.10)
	dropped := 0
	for n := range len(sent) / 960 {
		if drop(uint16(n)) {
			dropped++
		}
	}
	scores := map[bool]float64{}
	for _, fec := range []bool{true, false} {
		ca, cb := loopbackConfig(), loopbackConfig()
		ca.lossHook = drop
		ca.DisableFEC, cb.DisableFEC = !fec, !fec
		_, heard, _, st := lockstepCall(t, ca, cb, sent, nil)
		sim, lag := testaudio.Similarity(sent, heard, audio.SampleRate/2)
		t.Logf("fec=%v: similarity %.3f at lag %d; %d of %d packets dropped; receiver: %v", fec, sim, lag, dropped, len(sent)/960, st)
		if st.PacketsLost != uint64(dropped) {
			t.Errorf("fec=%v: receiver counted %d lost, the shim dropped %d", fec, st.PacketsLost, dropped)
		}
		if fec && st.FECRecovered == 0 {
			t.Errorf("no frame was recovered by FEC")
		}
		if !fec && st.FECRecovered != 0 {
			t.Errorf("FEC disabled but %d frames recovered by FEC", st.FECRecovered)
		}
		if sim <= testaudio.Threshold {
			t.Errorf("fec=%v: similarity %.3f <= %.2f with 10%% loss", fec, sim, testaudio.Threshold)
		}
		scores[fec] = sim
	}
	if scores[true] <= scores[false]+fecMargin {
		t.Errorf("FEC+PLC %.3f is not better than PLC alone %.3f by %.2f", scores[true], scores[false], fecMargin)
	}
}

// TestLossLowersMOS sends alice's recording through rising seeded loss:
// the receiver's estimated MOS falls with it (the figures are logged).
func TestLossLowersMOS(t *testing.T) {
	sent := speechSeconds("alice", callSeconds, audio.Frame20ms)
	prev := 5.0
	for _, p := range []float64{0, 0.05, 0.15, 0.30} {
		ca, cb := loopbackConfig(), loopbackConfig()
		if p > 0 {
			ca.lossHook = seededLoss(7, p)
		}
		_, _, _, st := lockstepCall(t, ca, cb, sent, nil)
		q := st.Quality
		t.Logf("loss %.0f%%: MOS %.2f (R %.1f), inputs %+v", p*100, q.MOS, q.R, q)
		if q.MOS >= prev {
			t.Errorf("loss %.0f%%: MOS %.2f, not below %.2f at less loss", p*100, q.MOS, prev)
		}
		if q.Codec != "opus" || q.OneWayDelayMs <= 20 {
			t.Errorf("loss %.0f%%: inputs %+v: want codec opus and a delay above one frame", p*100, q)
		}
		prev = q.MOS
	}
}
