package media

import (
	"testing"

	"github.com/peercall/peercall/audio"
)

// FuzzOpusDecode: RTP payloads are untrusted. Decoding, FEC recovery and
// concealment after any bytes must not panic and must return at most one
// packet's worth (120 ms) of samples.
func FuzzOpusDecode(f *testing.F) {
	enc, err := newEncoder(encoderConfig{FrameDuration: audio.Frame20ms, Bitrate: DefaultBitrate, FEC: true, LossPercent: 10, Complexity: DefaultComplexity})
	if err != nil {
		f.Fatal(err)
	}
	speech := speechSeconds("alice", 0.2, audio.Frame20ms)
	for i := 0; i+enc.frame <= len(speech); i += enc.frame {
		p, err := enc.encode(speech[i : i+enc.frame])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte(nil), p...))
	}
	f.Add([]byte{})
	f.Add([]byte{0xff})
	f.Add([]byte{0x03, 0xff, 0xff, 0xff})
	f.Add(make([]byte, maxOpusPacket+1))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		dec, err := newDecoder(960)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]int16, maxPacketSamples)
		n, err := dec.decode(pkt, out)
		if err == nil && (n < 0 || n > maxPacketSamples) {
			t.Fatalf("decoded %d samples", n)
		}
		if len(pkt) > 0 && len(pkt) <= maxOpusPacket {
			if n, err := dec.recover(pkt, out); err == nil && n > maxPacketSamples {
				t.Fatalf("FEC gave %d samples", n)
			}
		}
		if n, err := dec.conceal(out); err == nil && n > maxPacketSamples {
			t.Fatalf("concealment gave %d samples", n)
		}
	})
}
