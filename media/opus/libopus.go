//go:build cgo

package opus

// #cgo pkg-config: opus
// #include <stdlib.h>
// #include "opus_shim.h"
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Impl names the implementation of this build.
const Impl = "libopus"

func opusErr(code C.int) string { return C.GoString(C.opus_strerror(code)) }

// Encoder turns PCM frames into Opus packets. Not safe for concurrent use.
type Encoder struct {
	e     *C.OpusEncoder
	frame int
	dtx   bool
}

// NewEncoder returns an encoder set up as c says.
func NewEncoder(c EncoderConfig) (*Encoder, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	var code C.int
	e := C.pc_opus_encoder_new(C.int(c.SampleRate), C.int(c.Bitrate), cint(c.FEC), cint(c.DTX), C.int(c.LossPercent), C.int(c.Complexity), cint(c.SILKOnly), &code)
	if e == nil {
		return nil, fmt.Errorf("create the Opus encoder (%d Hz, %d bit/s): %s", c.SampleRate, c.Bitrate, opusErr(code))
	}
	enc := &Encoder{e: e, frame: c.FrameSamples, dtx: c.DTX}
	runtime.AddCleanup(enc, func(e *C.OpusEncoder) { C.opus_encoder_destroy(e) }, e)
	return enc, nil
}

func cint(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// Encode encodes one frame into out and returns the packet's length: 0
// when DTX leaves the frame out (libopus then returns a packet of one or
// two bytes, which is not sent, as WebRTC does).
func (e *Encoder) Encode(pcm []int16, out []byte) (int, error) {
	if len(pcm) != e.frame {
		return 0, fmt.Errorf("%w: %d samples, want %d", ErrFrame, len(pcm), e.frame)
	}
	if len(out) == 0 {
		return 0, fmt.Errorf("opus: no room for the packet")
	}
	n := C.opus_encode(e.e, (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)), (*C.uchar)(unsafe.Pointer(&out[0])), C.opus_int32(len(out)))
	runtime.KeepAlive(e)
	if n < 0 {
		return 0, fmt.Errorf("encode Opus: %s", opusErr(n))
	}
	if e.dtx && n <= 2 {
		return 0, nil // DTX: a frame of silence that need not be sent
	}
	return int(n), nil
}

// Lookahead is the encoder's algorithmic delay in samples.
func (e *Encoder) Lookahead() int {
	n := int(C.pc_opus_lookahead(e.e))
	runtime.KeepAlive(e)
	return n
}

// Decoder turns Opus packets into PCM and rebuilds lost ones (in-band FEC,
// concealment). Not safe for concurrent use.
type Decoder struct {
	d *C.OpusDecoder
}

// NewDecoder returns a mono decoder at rate Hz.
func NewDecoder(rate int) (*Decoder, error) {
	var code C.int
	d := C.opus_decoder_create(C.opus_int32(rate), 1, &code)
	if d == nil || code != C.OPUS_OK {
		return nil, fmt.Errorf("create the Opus decoder (%d Hz): %s", rate, opusErr(code))
	}
	dec := &Decoder{d: d}
	runtime.AddCleanup(dec, func(d *C.OpusDecoder) { C.opus_decoder_destroy(d) }, d)
	return dec, nil
}

func (d *Decoder) decode(pkt []byte, out []int16, fec C.int) (int, error) {
	if len(out) == 0 {
		return 0, fmt.Errorf("opus: no room for the samples")
	}
	var p *C.uchar
	if len(pkt) > 0 {
		p = (*C.uchar)(unsafe.Pointer(&pkt[0]))
	}
	n := C.opus_decode(d.d, p, C.opus_int32(len(pkt)), (*C.opus_int16)(unsafe.Pointer(&out[0])), C.int(len(out)), fec)
	runtime.KeepAlive(d)
	if n < 0 {
		return 0, fmt.Errorf("%s", opusErr(n))
	}
	return int(n), nil
}

// Decode decodes pkt into out (room for the longest packet: 120 ms) and
// returns the samples written.
func (d *Decoder) Decode(pkt []byte, out []int16) (int, error) {
	if len(pkt) == 0 {
		return 0, fmt.Errorf("decode Opus: empty packet")
	}
	n, err := d.decode(pkt, out, 0)
	if err != nil {
		return 0, fmt.Errorf("decode Opus: %w", err)
	}
	return n, nil
}

// DecodeFEC rebuilds the lost packet before next from next's in-band FEC
// (concealment when next has none); out is exactly the lost packet's
// length.
func (d *Decoder) DecodeFEC(next []byte, out []int16) (int, error) {
	n, err := d.decode(next, out, 1)
	if err != nil {
		return 0, fmt.Errorf("decode Opus FEC: %w", err)
	}
	return n, nil
}

// Conceal invents a lost packet's audio; out is exactly its length.
func (d *Decoder) Conceal(out []int16) (int, error) {
	n, err := d.decode(nil, out, 0)
	if err != nil {
		return 0, fmt.Errorf("conceal a lost Opus packet: %w", err)
	}
	return n, nil
}
