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
// (TestCodecFECBeatsConcealment) the gap at 10 % loss is about 0.1; over
// the live path the jitter buffer's timing adds noise of about ±0.02
// between runs, so 0.03 is a real difference, not noise.
const fecMargin = 0.03

// TestLossFECBeatsPLC sends alice's recording through 10 % seeded packet
// loss twice, once with in-band FEC and once with concealment alone, and
// checks that FEC gives measurably better audio.
func TestLossFECBeatsPLC(t *testing.T) {
	const seed = 42
	scores := map[bool]float64{}
	for _, fec := range []bool{true, false} {
		ca, cb := loopbackConfig(), loopbackConfig()
		ca.lossHook = seededLoss(seed, 0.10)
		ca.DisableFEC, cb.DisableFEC = !fec, !fec
		sentA, _, heardByB, _, a, b := runCall(t, ca, cb, false)
		sim, lag := segmentSimilarity(sentA, heardByB)
		whole, _ := testaudio.Similarity(sentA, heardByB, audio.SampleRate)
		sa, sb := a.Stats(), b.Stats()
		t.Logf("fec=%v: similarity %.3f per segment (%.3f whole), lag %d; dropped %d of %d; receiver: %v",
			fec, sim, whole, lag, a.packetsDropped.Load(), sa.PacketsSent+a.packetsDropped.Load(), sb)
		if sb.PacketsLost == 0 {
			t.Errorf("fec=%v: receiver saw no loss with 10%% dropped", fec)
		}
		if fec && sb.FECRecovered == 0 {
			t.Errorf("no frame was recovered by FEC")
		}
		if !fec && sb.FECRecovered != 0 {
			t.Errorf("FEC disabled but %d frames recovered by FEC", sb.FECRecovered)
		}
		if sim <= testaudio.Threshold {
			t.Errorf("fec=%v: similarity %.3f <= %.2f with 10%% loss", fec, sim, testaudio.Threshold)
		}
		scores[fec] = sim
		a.Close()
		b.Close()
	}
	if scores[true] <= scores[false]+fecMargin {
		t.Errorf("FEC+PLC %.3f is not better than PLC alone %.3f by %.2f", scores[true], scores[false], fecMargin)
	}
}
