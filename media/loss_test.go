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

// hashedLoss drops a packet with probability p, decided by a splitmix64
// hash of the seed and the sequence number: as deterministic as
// seededLoss, and at the rate asked (the first draw of a PCG seeded with
// consecutive sequence numbers is not uniform: seededLoss(7, 0.02) drops
// 6 % of 300 packets, seededLoss(7, 0.10) 16 %).
func hashedLoss(seed uint64, p float64) func(uint16) bool {
	return func(seq uint16) bool {
		if seq == 0 {
			return false
		}
		z := seed<<16 | uint64(seq)
		z += 0x9e3779b97f4a7c15
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		z ^= z >> 31
		return float64(z>>11)/(1<<53) < p
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

// TestLossLowersMOS sends alice's recording (6 s) through rising seeded
// loss, 0, 2, 5 and 10 %, with in-band FEC and without: the receiver's
// estimated MOS never rises with the loss and is lower at 10 % than on the
// clean path; without FEC, every loss is concealed and the MOS falls at
// each step (with FEC a single lost packet is rebuilt, so 2 % may cost
// nothing). The figures are logged:
//
//	go test -run TestLossLowersMOS -v ./media/
func TestLossLowersMOS(t *testing.T) {
	sent := speechSeconds("alice", 6, audio.Frame20ms)
	for _, fec := range []bool{true, false} {
		prev, clean := 5.0, 0.0
		for _, p := range []float64{0, 0.02, 0.05, 0.10} {
			ca, cb := loopbackConfig(), loopbackConfig()
			ca.DisableFEC, cb.DisableFEC = !fec, !fec
			if p > 0 {
				ca.lossHook = hashedLoss(7, p)
			}
			_, _, _, st := lockstepCall(t, ca, cb, sent, nil)
			q := st.Quality
			t.Logf("fec=%v loss %2.0f%%: MOS %.2f (R %.1f); %d of %d packets lost, %d rebuilt by FEC; inputs: delay %.1f ms, concealed %.2f%%, burst ratio %.2f, late %d, codec %s",
				fec, p*100, q.MOS, q.R, st.PacketsLost, st.PacketsLost+st.PacketsReceived, st.FECRecovered, q.OneWayDelayMs, 100*q.Loss, q.BurstRatio, q.Late, q.Codec)
			switch {
			case q.MOS > prev:
				t.Errorf("fec=%v loss %.0f%%: MOS %.2f, above %.2f at less loss", fec, p*100, q.MOS, prev)
			case !fec && p > 0 && q.MOS >= prev:
				t.Errorf("fec=%v loss %.0f%%: MOS %.2f, not below %.2f at less loss", fec, p*100, q.MOS, prev)
			}
			if q.Codec != "opus" || q.OneWayDelayMs <= 20 {
				t.Errorf("loss %.0f%%: inputs %+v: want codec opus and a delay above one frame", p*100, q)
			}
			if p == 0 {
				clean = q.MOS
			}
			if p == 0.10 && q.MOS >= clean-0.1 {
				t.Errorf("fec=%v: MOS %.2f at 10%% loss, want well below the clean path's %.2f", fec, q.MOS, clean)
			}
			prev = q.MOS
		}
	}
}
