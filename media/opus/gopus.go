//go:build !cgo

package opus

import (
	"fmt"

	"github.com/thesyncim/gopus"
)

// Impl names the implementation of this build.
const Impl = "gopus"

// Encoder turns PCM frames into Opus packets. Not safe for concurrent use.
type Encoder struct {
	enc   *gopus.Encoder
	frame int
}

// NewEncoder returns an encoder set up as c says.
func NewEncoder(c EncoderConfig) (*Encoder, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	app := gopus.ApplicationVoIP
	if c.SILKOnly {
		app = gopus.ApplicationRestrictedSilk
	}
	enc, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: c.SampleRate, Channels: 1, Application: app})
	if err != nil {
		return nil, fmt.Errorf("create Opus encoder: %w", err)
	}
	if err := enc.SetFrameSize(c.FrameSamples); err != nil {
		return nil, fmt.Errorf("set the Opus frame to %d samples: %w", c.FrameSamples, err)
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
	return &Encoder{enc: enc, frame: c.FrameSamples}, nil
}

// Encode encodes one frame into out and returns the packet's length: 0
// when DTX leaves the frame out.
func (e *Encoder) Encode(pcm []int16, out []byte) (int, error) {
	if len(pcm) != e.frame {
		return 0, fmt.Errorf("%w: %d samples, want %d", ErrFrame, len(pcm), e.frame)
	}
	n, err := e.enc.EncodeInt16(pcm, out)
	if err != nil {
		return 0, fmt.Errorf("encode Opus: %w", err)
	}
	return n, nil
}

// Lookahead is the encoder's algorithmic delay in samples.
func (e *Encoder) Lookahead() int { return e.enc.Lookahead() }

// Decoder turns Opus packets into PCM and rebuilds lost ones (in-band FEC,
// concealment). Not safe for concurrent use.
type Decoder struct {
	dec *gopus.Decoder
	f32 []float32
}

// maxSamples is the longest Opus packet (120 ms) at 48 kHz.
const maxSamples = 5760

// NewDecoder returns a mono decoder at rate Hz.
func NewDecoder(rate int) (*Decoder, error) {
	dec, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(rate, 1))
	if err != nil {
		return nil, fmt.Errorf("create Opus decoder: %w", err)
	}
	return &Decoder{dec: dec, f32: make([]float32, maxSamples)}, nil
}

// Decode decodes pkt into out (room for the longest packet: 120 ms) and
// returns the samples written.
func (d *Decoder) Decode(pkt []byte, out []int16) (int, error) {
	if len(pkt) == 0 {
		return 0, fmt.Errorf("decode Opus: empty packet")
	}
	n, err := d.dec.Decode(pkt, d.f32[:min(len(out), maxSamples)])
	if err != nil {
		return 0, fmt.Errorf("decode Opus: %w", err)
	}
	return toInt16(out, d.f32[:n]), nil
}

// DecodeFEC rebuilds the lost packet before next from next's in-band FEC
// (concealment when next has none); out is exactly the lost packet's
// length: gopus silently yields garbage into a longer buffer.
func (d *Decoder) DecodeFEC(next []byte, out []int16) (int, error) {
	n, err := d.dec.DecodeWithFEC(next, d.f32[:len(out)], true)
	if err != nil {
		return 0, fmt.Errorf("decode Opus FEC: %w", err)
	}
	return toInt16(out, d.f32[:n]), nil
}

// Conceal invents a lost packet's audio; out is exactly its length.
func (d *Decoder) Conceal(out []int16) (int, error) {
	n, err := d.dec.Decode(nil, d.f32[:len(out)])
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
