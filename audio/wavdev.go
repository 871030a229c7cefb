package audio

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
)

// NewWAVSource returns an unpaced source that plays the WAV file at path (a
// 16-bit PCM WAV, see ReadWAV) as a microphone. Stereo and multi-channel
// files are downmixed to mono by averaging; a file at another rate than
// SampleRate is resampled by linear interpolation. The last frame is padded
// with silence; after it Read returns io.EOF, unless loop is true, in which
// case the file starts again. Wrap it with Paced for real time.
//
// path must be a regular file: a named pipe, device or directory is refused
// without being opened (see CheckSource), and a header claiming more audio
// than the file holds is refused before any is read. The whole file is
// read into memory (at most MaxWAVBytes of audio).
func NewWAVSource(path string, loop bool) (Source, error) {
	f, size, err := openWAVFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	samples, info, err := readWAV(f, size)
	if err != nil {
		return nil, fmt.Errorf("wav:%s: %w", path, err)
	}
	return NewSamplesSource(resample(downmix(samples, info.Channels), info.SampleRate), loop), nil
}

// NewSamplesSource returns an unpaced source playing samples (mono,
// SampleRate), padded with silence to a whole frame, then io.EOF (or again
// from the start if loop is true). It keeps samples; do not change them.
func NewSamplesSource(samples []int16, loop bool) Source {
	return &samplesSource{s: samples, loop: loop && len(samples) > 0}
}

type samplesSource struct {
	mu     sync.Mutex
	s      []int16
	pos    int
	loop   bool
	closed bool
}

func (w *samplesSource) Read(ctx context.Context, frame []int16) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if w.pos >= len(w.s) && !w.loop {
		return io.EOF
	}
	n := 0
	for n < len(frame) {
		if w.pos >= len(w.s) {
			if !w.loop {
				clear(frame[n:])
				break
			}
			w.pos = 0
		}
		c := copy(frame[n:], w.s[w.pos:])
		n += c
		w.pos += c
	}
	return nil
}

func (w *samplesSource) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	return nil
}

// NewWAVSink creates (or truncates) the WAV file at path and returns an
// unpaced sink that records every frame written to it, 48 kHz mono 16-bit.
//
// Crash safety: the header's lengths are rewritten after every frame (two
// 4-byte writes at fixed offsets), so a process killed mid-call leaves a
// valid WAV missing at most the frame being written. Close writes the final
// lengths and closes the file. Recording stops, with one logged warning, at
// MaxWAVBytes (about 46 minutes), the most ReadWAV accepts; later frames are
// discarded without error so that a long call goes on. logger may be nil.
// An existing path that is not a regular file (a named pipe, a device, a
// directory) is refused without being opened.
func NewWAVSink(path string, logger *slog.Logger) (Sink, error) {
	f, err := createWAVFile(path)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(WAVHeader(WAVInfo{SampleRate: SampleRate, Channels: 1}, 0)); err != nil {
		f.Close()
		return nil, fmt.Errorf("write WAV recording header to %s: %w", path, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &wavSink{f: f, path: path, log: logger}, nil
}

type wavSink struct {
	mu     sync.Mutex
	f      *os.File
	path   string
	log    *slog.Logger
	n      uint32 // data bytes written
	full   bool
	buf    []byte
	closed bool
}

func (w *wavSink) Write(ctx context.Context, frame []int16) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if w.full {
		return nil
	}
	if int64(w.n)+2*int64(len(frame)) > MaxWAVBytes {
		w.full = true
		w.log.Warn("WAV recording reached its size limit; later audio is not recorded", "path", w.path, "bytes", w.n)
		return nil
	}
	w.buf = w.buf[:0]
	for _, s := range frame {
		w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(s))
	}
	if _, err := w.f.Write(w.buf); err != nil {
		return fmt.Errorf("record to WAV %s: %w", w.path, err)
	}
	w.n += uint32(len(w.buf))
	return w.fixHeader()
}

// fixHeader writes the RIFF and data chunk lengths for the w.n bytes so far.
func (w *wavSink) fixHeader() error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], 36+w.n)
	if _, err := w.f.WriteAt(b[:], 4); err != nil {
		return fmt.Errorf("update WAV header of %s: %w", w.path, err)
	}
	binary.LittleEndian.PutUint32(b[:], w.n)
	if _, err := w.f.WriteAt(b[:], 40); err != nil {
		return fmt.Errorf("update WAV header of %s: %w", w.path, err)
	}
	return nil
}

func (w *wavSink) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.fixHeader()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close WAV recording %s: %w", w.path, cerr)
	}
	return err
}
