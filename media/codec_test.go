package media

import (
	"math/rand/v2"
	"testing"
	"time"

	pionopus "github.com/pion/opus"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
)

// speechSeconds returns the first secs seconds of a test recording, cut to
// whole frames of d.
func speechSeconds(name string, secs float64, d time.Duration) []int16 {
	s := testaudio.MustSpeech(name)
	n := min(len(s), int(secs*audio.SampleRate))
	f := audio.SamplesPer(d)
	return s[:n/f*f]
}

// maxLag is the widest delay searched by the similarity metric in tests.
const maxLag = audio.SampleRate / 2

func TestCodecRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		frame time.Duration
		rate  int
		dtx   bool
	}{
		{"20ms 28k", audio.Frame20ms, DefaultBitrate, false},
		{"10ms 28k", audio.Frame10ms, DefaultBitrate, false},
		{"20ms 12k dtx", audio.Frame20ms, 12000, true},
	}
	sent := speechSeconds("alice", 3, audio.Frame20ms)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := newEncoder(encoderConfig{FrameDuration: tc.frame, Bitrate: tc.rate, FEC: true, DTX: tc.dtx, LossPercent: 10, Complexity: DefaultComplexity})
			if err != nil {
				t.Fatal(err)
			}
			dec, err := newDecoder(enc.frame)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]int16, maxPacketSamples)
			var got []int16
			for i := 0; i+enc.frame <= len(sent); i += enc.frame {
				pkt, err := enc.encode(sent[i : i+enc.frame])
				if err != nil {
					t.Fatal(err)
				}
				n, err := dec.decode(pkt, out)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, out[:n]...)
			}
			sim, lag := testaudio.Similarity(sent, got, maxLag)
			t.Logf("similarity %.3f at lag %d samples (%.1f ms; encoder look-ahead %v)", sim, lag, float64(lag)/48, enc.lookahead())
			// A clean codec round trip must clear the call threshold by far:
			// testaudio documents > 0.8 for Opus at 24 kbit/s.
			if sim < 0.8 {
				t.Errorf("similarity %.3f < 0.8", sim)
			}
		})
	}
}

func TestCodecRejectsBadInput(t *testing.T) {
	enc, err := newEncoder(encoderConfig{FrameDuration: audio.Frame20ms, Bitrate: DefaultBitrate, FEC: true, LossPercent: 10, Complexity: DefaultComplexity})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.encode(make([]int16, 100)); err == nil {
		t.Error("encoding a short frame succeeded")
	}
	dec, err := newDecoder(960)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int16, maxPacketSamples)
	for _, pkt := range [][]byte{nil, make([]byte, maxOpusPacket+1), {0xff, 0xff, 0xff}} {
		if _, err := dec.decode(pkt, out); err == nil {
			t.Errorf("decoding % x (len %d) succeeded", pkt[:min(3, len(pkt))], len(pkt))
		}
	}
}

// codecLossRun encodes sent, drops packets where drop[i] is set, and
// decodes with FEC recovery (when useFEC) or concealment alone.
func codecLossRun(t *testing.T, sent []int16, drop []bool, useFEC bool) []int16 {
	t.Helper()
	enc, err := newEncoder(encoderConfig{FrameDuration: audio.Frame20ms, Bitrate: DefaultBitrate, FEC: true, LossPercent: 10, Complexity: DefaultComplexity})
	if err != nil {
		t.Fatal(err)
	}
	var pkts [][]byte
	for i := 0; i+enc.frame <= len(sent); i += enc.frame {
		p, err := enc.encode(sent[i : i+enc.frame])
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, append([]byte(nil), p...))
	}
	dec, err := newDecoder(enc.frame)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int16, maxPacketSamples)
	var got []int16
	for i, p := range pkts {
		var n int
		switch {
		case !drop[i]:
			n, err = dec.decode(p, out)
		case useFEC && i+1 < len(pkts) && !drop[i+1]:
			n, err = dec.recover(pkts[i+1], out)
		default:
			n, err = dec.conceal(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		if n != enc.frame {
			t.Fatalf("packet %d gave %d samples, want %d", i, n, enc.frame)
		}
		got = append(got, out[:n]...)
	}
	return got
}

// TestCodecFECBeatsConcealment checks, without any network, that in-band
// FEC rebuilds lost packets better than concealment alone (same losses).
func TestCodecFECBeatsConcealment(t *testing.T) {
	sent := speechSeconds("bob", 4, audio.Frame20ms)
	rng := rand.New(rand.NewPCG(7, 7))
	drop := make([]bool, len(sent)/960)
	for i := range drop {
		drop[i] = i > 0 && rng.Float64() < 0.10
	}
	fec, _ := testaudio.Similarity(sent, codecLossRun(t, sent, drop, true), maxLag)
	plc, _ := testaudio.Similarity(sent, codecLossRun(t, sent, drop, false), maxLag)
	t.Logf("10%% loss: FEC+PLC %.3f, PLC alone %.3f", fec, plc)
	if fec <= plc+0.03 {
		t.Errorf("FEC %.3f is not better than PLC %.3f by 0.03", fec, plc)
	}
}

// TestPionOpusDecodesOurPackets proves an independent decoder
// (github.com/pion/opus) understands what we send. pion/opus v0.1.0 decodes
// SILK, CELT and hybrid packets; the test runs both our default VoIP
// encoder and a SILK-only one.
func TestPionOpusDecodesOurPackets(t *testing.T) {
	tests := []struct {
		name string
		silk bool
	}{
		{"voip", false},
		{"silk only", true},
	}
	sent := speechSeconds("alice", 3, audio.Frame20ms)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := newEncoder(encoderConfig{FrameDuration: audio.Frame20ms, Bitrate: DefaultBitrate, FEC: true, LossPercent: 10, Complexity: DefaultComplexity, forceSILK: tc.silk})
			if err != nil {
				t.Fatal(err)
			}
			dec, err := pionopus.NewDecoderWithOutput(audio.SampleRate, 1)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]int16, maxPacketSamples)
			var got []int16
			for i := 0; i+enc.frame <= len(sent); i += enc.frame {
				pkt, err := enc.encode(sent[i : i+enc.frame])
				if err != nil {
					t.Fatal(err)
				}
				n, err := dec.DecodeToInt16(pkt, out)
				if err != nil {
					t.Fatalf("pion/opus rejects packet %d (toc %#x): %v", i/enc.frame, pkt[0], err)
				}
				got = append(got, out[:n]...)
			}
			sim, lag := testaudio.Similarity(sent, got, maxLag)
			t.Logf("pion/opus: similarity %.3f at lag %d", sim, lag)
			if sim < 0.8 {
				t.Errorf("pion/opus decoded audio similarity %.3f < 0.8", sim)
			}
		})
	}
}
