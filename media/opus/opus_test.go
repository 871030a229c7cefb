package opus

import (
	"errors"
	"testing"

	"github.com/peercall/peercall/internal/testaudio"
)

// TestRoundTrip: speech through this build's encoder and decoder comes
// back like what was sent, and a lost packet is rebuilt (FEC) or
// concealed at its own length.
func TestRoundTrip(t *testing.T) {
	sent := testaudio.MustSpeech("alice")[:3*48000]
	const frame = 960
	enc, err := NewEncoder(EncoderConfig{SampleRate: 48000, FrameSamples: frame, Bitrate: 28000, FEC: true, LossPercent: 10, Complexity: 5})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(48000)
	if err != nil {
		t.Fatal(err)
	}
	pkt := make([]byte, 4000)
	out := make([]int16, 5760)
	var got []int16
	var prev []byte
	for i := 0; i+frame <= len(sent); i += frame {
		n, err := enc.Encode(sent[i:i+frame], pkt)
		if err != nil {
			t.Fatal(err)
		}
		p := append([]byte(nil), pkt[:n]...)
		switch {
		case i/frame%10 == 5: // lost: rebuilt from the next packet
			prev = p
			continue
		case prev != nil:
			m, err := dec.DecodeFEC(p, out[:frame])
			if err != nil || m != frame {
				t.Fatalf("FEC of packet %d: %d samples, %v", i/frame-1, m, err)
			}
			got = append(got, out[:m]...)
			prev = nil
		}
		m, err := dec.Decode(p, out)
		if err != nil || m != frame {
			t.Fatalf("packet %d: %d samples, %v", i/frame, m, err)
		}
		got = append(got, out[:m]...)
	}
	if m, err := dec.Conceal(out[:frame]); err != nil || m != frame {
		t.Fatalf("concealment: %d samples, %v", m, err)
	}
	sim, lag := testaudio.Similarity(sent, got, 24000)
	t.Logf("%s: similarity %.3f at lag %d (look-ahead %d samples)", Impl, sim, lag, enc.Lookahead())
	if sim < 0.8 {
		t.Errorf("similarity %.3f < 0.8", sim)
	}
	if _, err := enc.Encode(sent[:100], pkt); !errors.Is(err, ErrFrame) {
		t.Errorf("a short frame: %v, want ErrFrame", err)
	}
	if _, err := dec.Decode([]byte{0xff, 0xff, 0xff}, out); err == nil {
		t.Error("a corrupt packet decoded")
	}
}
