package voicemail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
	"github.com/thesyncim/gopus"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/dsp"
)

// Encoding of a voice message.
const (
	FrameDuration = 60 * time.Millisecond
	Bitrate       = 16_000
	// MaxLength bounds a recording: at Bitrate, with Ogg's pages, it fits
	// a chat voice frame (chat.MaxVoice).
	MaxLength = 20 * time.Second
	// MaxSize bounds a voice message's file.
	MaxSize = 60_000
	// maxPacket bounds one Opus packet read back.
	maxPacket = 1500
)

// ErrTooLarge: the recording does not fit a voice message.
var ErrTooLarge = errors.New("voice message too large")

// Record reads src until it ends (io.EOF), ctx ends or max (at most
// MaxLength) has been recorded, runs each 20 ms frame through chain (nil:
// none) and returns the Ogg Opus file and its length.
func Record(ctx context.Context, src audio.Source, chain *dsp.Chain, max time.Duration) ([]byte, time.Duration, error) {
	if max <= 0 || max > MaxLength {
		max = MaxLength
	}
	enc, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: audio.SampleRate, Channels: 1, Application: gopus.ApplicationVoIP})
	if err != nil {
		return nil, 0, fmt.Errorf("create Opus encoder: %w", err)
	}
	per := audio.SamplesPer(FrameDuration)
	if err := errors.Join(enc.SetFrameSize(per), enc.SetBitrate(Bitrate), enc.SetSignal(gopus.SignalVoice)); err != nil {
		return nil, 0, fmt.Errorf("set up the Opus encoder: %w", err)
	}
	var out bytes.Buffer
	w, err := oggwriter.NewWith(&out, audio.SampleRate, 1)
	if err != nil {
		return nil, 0, fmt.Errorf("start the Ogg file: %w", err)
	}
	frame := make([]int16, audio.SamplesPer(audio.Frame20ms))
	pcm := make([]int16, 0, per)
	pkt := make([]byte, maxPacket)
	var recorded time.Duration
	var seq uint16
	var ts uint32
	flush := func() error {
		if len(pcm) == 0 {
			return nil
		}
		pcm = append(pcm, make([]int16, per-len(pcm))...) // pad the last frame
		n, err := enc.EncodeInt16(pcm, pkt)
		if err != nil {
			return fmt.Errorf("encode Opus: %w", err)
		}
		seq++
		ts += uint32(per)
		pcm = pcm[:0]
		return w.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts}, Payload: pkt[:n]})
	}
	for recorded < max {
		err := src.Read(ctx, frame)
		if errors.Is(err, io.EOF) || (err != nil && ctx.Err() != nil) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("record: %w", err)
		}
		if chain != nil {
			if err := chain.ProcessCapture(frame, time.Now()); err != nil {
				return nil, 0, fmt.Errorf("process the microphone: %w", err)
			}
		}
		recorded += audio.Frame20ms
		pcm = append(pcm, frame...)
		if len(pcm) == per {
			if err := flush(); err != nil {
				return nil, 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, 0, err
	}
	if err := w.Close(); err != nil {
		return nil, 0, fmt.Errorf("end the Ogg file: %w", err)
	}
	if recorded == 0 {
		return nil, 0, errors.New("nothing was recorded: the source gave no audio")
	}
	if out.Len() > MaxSize {
		return nil, 0, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, out.Len(), MaxSize)
	}
	return out.Bytes(), recorded, nil
}

// Packets returns the Opus packets of an Ogg Opus file (one mono stream at
// 48 kHz), checking its header and its size.
func Packets(ogg []byte) ([][]byte, error) {
	if len(ogg) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(ogg), MaxSize)
	}
	r, head, err := oggreader.NewWith(bytes.NewReader(ogg))
	if err != nil {
		return nil, fmt.Errorf("not an Ogg Opus file: %w", err)
	}
	if head.Channels != 1 {
		return nil, fmt.Errorf("a voice message has one channel, this file %d", head.Channels)
	}
	var out [][]byte
	for {
		payload, _, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read the Ogg file: %w", err)
		}
		if bytes.HasPrefix(payload, []byte("OpusTags")) || len(payload) == 0 {
			continue
		}
		if len(payload) > maxPacket {
			return nil, fmt.Errorf("an Opus packet of %d bytes, the limit is %d", len(payload), maxPacket)
		}
		out = append(out, payload)
	}
}

// Decode returns the 48 kHz mono samples of an Ogg Opus file.
func Decode(ogg []byte) ([]int16, error) {
	pkts, err := Packets(ogg)
	if err != nil {
		return nil, err
	}
	dec, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(audio.SampleRate, 1))
	if err != nil {
		return nil, fmt.Errorf("create Opus decoder: %w", err)
	}
	f32 := make([]float32, 5760)
	var out []int16
	for _, p := range pkts {
		n, err := dec.Decode(p, f32)
		if err != nil {
			return nil, fmt.Errorf("decode Opus: %w", err)
		}
		for _, v := range f32[:n] {
			out = append(out, int16(max(-32768, min(32767, v*32767))))
		}
	}
	return out, nil
}

// Play decodes ogg and writes it to sink, 20 ms at a time.
func Play(ctx context.Context, ogg []byte, sink audio.Sink) error {
	pcm, err := Decode(ogg)
	if err != nil {
		return err
	}
	n := audio.SamplesPer(audio.Frame20ms)
	frame := make([]int16, n)
	for off := 0; off < len(pcm); off += n {
		clear(frame)
		copy(frame, pcm[off:min(off+n, len(pcm))])
		if err := sink.Write(ctx, frame); err != nil {
			return fmt.Errorf("play: %w", err)
		}
	}
	return nil
}
