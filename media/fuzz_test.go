package media

import (
	"testing"
	"time"

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

// FuzzJitterBuffer: sequence numbers come from the network. Any order of
// pushes and pulls must keep the buffer within its bounds.
func FuzzJitterBuffer(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 2, 0, 0xff, 3, 0})
	f.Add([]byte{0xff, 0xff, 0, 0, 0x80, 0, 0xff, 0x7f, 0xff})
	f.Fuzz(func(t *testing.T, script []byte) {
		jb := newJitterBuffer(20*time.Millisecond, len(script)%2 == 0)
		now := time.Unix(0, 0)
		for i := 0; i+1 < len(script); i += 2 {
			if script[i] == 0xff { // a pull
				jb.pull(make([]byte, maxOpusPacket), now)
				continue
			}
			seq := uint16(script[i])<<8 | uint16(script[i+1])
			jb.push(seq, uint32(seq)*960, []byte{1}, now)
			now = now.Add(time.Duration(script[i+1]) * time.Millisecond)
			if d := jb.stats().depth; d > jbSlots {
				t.Fatalf("depth %d exceeds %d slots", d, jbSlots)
			}
		}
	})
}
