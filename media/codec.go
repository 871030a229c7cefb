package media

import (
	"fmt"
	"time"

	"github.com/thesyncim/gopus"

	"github.com/peercall/peercall/audio"
)

// maxPacketSamples is the longest Opus packet (120 ms) at 48 kHz.
const maxPacketSamples = 5760

// maxOpusPacket bounds the bytes of one encoded packet we send or accept
// (an RTP payload; 1275 bytes is Opus' largest single frame, a 120 ms
// packet may hold several).
const maxOpusPacket = 4000

// encoder turns 48 kHz mono frames into Opus packets tuned for speech.
type encoder struct {
	enc   *gopus.Encoder
	frame int // samples per frame
	buf   []byte
}

// encoderConfig is the subset of Config the encoder needs.
type encoderConfig struct {
	FrameDuration time.Duration
	Bitrate       int
	FEC           bool
	DTX           bool
	LossPercent   int
	Complexity    int // 0..10
	// forceSILK restricts the encoder to SILK (used by the test that
	// decodes our packets with pion/opus).
	forceSILK bool
}

func newEncoder(c encoderConfig) (*encoder, error) {
	app := gopus.ApplicationVoIP
	if c.forceSILK {
		app = gopus.ApplicationRestrictedSilk
	}
	enc, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: audio.SampleRate, Channels: 1, Application: app})
	if err != nil {
		return nil, fmt.Errorf("create Opus encoder: %w", err)
	}
	frame := audio.SamplesPer(c.FrameDuration)
	if err := enc.SetFrameSize(frame); err != nil {
		return nil, fmt.Errorf("set the Opus frame to %v: %w", c.FrameDuration, err)
	}
	if err := enc.SetBitrate(c.Bitrate); err != nil {
		return nil, fmt.Errorf("set the Opus bitrate to %d: %w", c.Bitrate, err)
	}
	if err := enc.SetSignal(gopus.SignalVoice); err != nil {
		return nil, fmt.Errorf("set the Opus signal type: %w", err)
	}
	fec := gopus.InBandFECDisabled
	if c.FEC {
		fec = gopus.InBandFECEnabled
	}
	if err := enc.SetInBandFEC(fec); err != nil {
		return nil, fmt.Errorf("turn on Opus in-band FEC: %w", err)
	}
	if err := enc.SetPacketLoss(c.LossPercent); err != nil {
		return nil, fmt.Errorf("set the Opus loss hint to %d%%: %w", c.LossPercent, err)
	}
	enc.SetDTX(c.DTX)
	if err := enc.SetComplexity(c.Complexity); err != nil {
		return nil, fmt.Errorf("set the Opus complexity to %d: %w", c.Complexity, err)
	}
	return &encoder{enc: enc, frame: frame, buf: make([]byte, maxOpusPacket)}, nil
}

// encode returns the packet for one frame; it is valid until the next call.
func (e *encoder) encode(pcm []int16) ([]byte, error) {
	if len(pcm) != e.frame {
		return nil, fmt.Errorf("encode: frame of %d samples, want %d", len(pcm), e.frame)
	}
	n, err := e.enc.EncodeInt16(pcm, e.buf)
	if err != nil {
		return nil, fmt.Errorf("encode Opus: %w", err)
	}
	return e.buf[:n], nil
}

// lookahead is the encoder's algorithmic delay.
func (e *encoder) lookahead() time.Duration {
	return time.Duration(e.enc.Lookahead()) * time.Second / audio.SampleRate
}

// decoder turns Opus packets back into 48 kHz mono samples and rebuilds
// lost ones from in-band FEC or by concealment.
type decoder struct {
	dec  *gopus.Decoder
	last int // samples in the last packet: the length of a lost one
	f32  []float32
}

func newDecoder(frame int) (*decoder, error) {
	dec, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(audio.SampleRate, 1))
	if err != nil {
		return nil, fmt.Errorf("create Opus decoder: %w", err)
	}
	return &decoder{dec: dec, last: frame, f32: make([]float32, maxPacketSamples)}, nil
}

// decode decodes a received packet into out (at least maxPacketSamples
// long) and returns the samples written.
func (d *decoder) decode(pkt []byte, out []int16) (int, error) {
	if len(pkt) == 0 || len(pkt) > maxOpusPacket {
		return 0, fmt.Errorf("received an Opus packet of %d bytes: want 1..%d", len(pkt), maxOpusPacket)
	}
	n, err := d.dec.Decode(pkt, d.f32)
	if err != nil {
		return 0, fmt.Errorf("decode Opus: %w", err)
	}
	if n > 0 {
		d.last = n
	}
	return toInt16(out, d.f32[:n]), nil
}

// recover rebuilds the lost packet that preceded next from next's in-band
// FEC data (gopus falls back to concealment when next carries none).
// gopus must be given a buffer of exactly the lost packet's length: a
// longer one silently yields garbage.
func (d *decoder) recover(next []byte, out []int16) (int, error) {
	n, err := d.dec.DecodeWithFEC(next, d.f32[:d.last], true)
	if err != nil {
		return 0, fmt.Errorf("decode Opus FEC: %w", err)
	}
	return toInt16(out, d.f32[:n]), nil
}

// conceal invents the lost packet's audio (packet loss concealment). As
// for recover, the buffer must be exactly the lost packet's length.
func (d *decoder) conceal(out []int16) (int, error) {
	n, err := d.dec.Decode(nil, d.f32[:d.last])
	if err != nil {
		return 0, fmt.Errorf("conceal a lost Opus packet: %w", err)
	}
	return toInt16(out, d.f32[:n]), nil
}

func toInt16(out []int16, in []float32) int {
	for i, v := range in {
		x := v * 32768
		switch {
		case x >= 32767:
			out[i] = 32767
		case x <= -32768:
			out[i] = -32768
		case x >= 0:
			out[i] = int16(x + 0.5)
		default:
			out[i] = int16(x - 0.5)
		}
	}
	return len(in)
}
