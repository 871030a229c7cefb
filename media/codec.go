package media

import (
	"fmt"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/media/opus"
)

// maxPacketSamples is the longest Opus packet (120 ms) at 48 kHz.
const maxPacketSamples = 5760

// maxOpusPacket bounds the bytes of one encoded packet we send or accept
// (an RTP payload; 1275 bytes is Opus' largest single frame, a 120 ms
// packet may hold several).
const maxOpusPacket = 4000

// encoder turns 48 kHz mono frames into Opus packets tuned for speech
// (libopus through cgo, gopus without: package media/opus).
type encoder struct {
	enc   *opus.Encoder
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
	frame := audio.SamplesPer(c.FrameDuration)
	enc, err := opus.NewEncoder(opus.EncoderConfig{
		SampleRate: audio.SampleRate, FrameSamples: frame, Bitrate: c.Bitrate, FEC: c.FEC, DTX: c.DTX,
		LossPercent: c.LossPercent, Complexity: c.Complexity, SILKOnly: c.forceSILK,
	})
	if err != nil {
		return nil, err
	}
	return &encoder{enc: enc, frame: frame, buf: make([]byte, maxOpusPacket)}, nil
}

// encode returns the packet for one frame (empty: DTX sends none); it is
// valid until the next call.
func (e *encoder) encode(pcm []int16) ([]byte, error) {
	n, err := e.enc.Encode(pcm, e.buf)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
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
	dec  *opus.Decoder
	last int // samples in the last packet: the length of a lost one
}

func newDecoder(frame int) (*decoder, error) {
	dec, err := opus.NewDecoder(audio.SampleRate)
	if err != nil {
		return nil, err
	}
	return &decoder{dec: dec, last: frame}, nil
}

// decode decodes a received packet into out (at least maxPacketSamples
// long) and returns the samples written.
func (d *decoder) decode(pkt []byte, out []int16) (int, error) {
	if len(pkt) == 0 || len(pkt) > maxOpusPacket {
		return 0, fmt.Errorf("received an Opus packet of %d bytes: want 1..%d", len(pkt), maxOpusPacket)
	}
	n, err := d.dec.Decode(pkt, out[:min(len(out), maxPacketSamples)])
	if err != nil {
		return 0, err
	}
	if n > 0 {
		d.last = n
	}
	return n, nil
}

// recover rebuilds the lost packet that preceded next from next's in-band
// FEC data (concealment when next carries none), as long as the last
// packet.
func (d *decoder) recover(next []byte, out []int16) (int, error) {
	return d.dec.DecodeFEC(next, out[:d.last])
}

// conceal invents the lost packet's audio (packet loss concealment), as
// long as the last packet.
func (d *decoder) conceal(out []int16) (int, error) {
	return d.dec.Conceal(out[:d.last])
}
