package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxWAVBytes bounds the audio data ReadWAV accepts (about 40 minutes of
// 48 kHz mono 16-bit audio), so a hostile file cannot exhaust memory.
const MaxWAVBytes = 256 << 20

// ErrWAVFormat is wrapped by every ReadWAV error about the file's contents.
var ErrWAVFormat = errors.New("not a usable WAV file")

// WAVInfo describes a WAV file's audio.
type WAVInfo struct {
	SampleRate int
	Channels   int
}

// ReadWAV reads a 16-bit PCM WAV (RIFF/WAVE, format 1 or WAVE_FORMAT_EXTENSIBLE
// with PCM subformat) and returns its samples interleaved by channel. Chunks
// other than "fmt " and "data" are skipped. It rejects anything else with an
// error that wraps ErrWAVFormat and says what was found.
func ReadWAV(r io.Reader) ([]int16, WAVInfo, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, WAVInfo{}, fmt.Errorf("%w: reading RIFF header: %v", ErrWAVFormat, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, WAVInfo{}, fmt.Errorf("%w: no RIFF/WAVE header (convert it with `sox IN -b 16 OUT.wav`)", ErrWAVFormat)
	}
	var info WAVInfo
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return nil, WAVInfo{}, fmt.Errorf("%w: no data chunk: %v", ErrWAVFormat, err)
		}
		id, size := string(ch[0:4]), binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if size < 16 || size > 64 {
				return nil, WAVInfo{}, fmt.Errorf("%w: fmt chunk of %d bytes", ErrWAVFormat, size)
			}
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, WAVInfo{}, fmt.Errorf("%w: reading fmt chunk: %v", ErrWAVFormat, err)
			}
			format := binary.LittleEndian.Uint16(b[0:2])
			info.Channels = int(binary.LittleEndian.Uint16(b[2:4]))
			info.SampleRate = int(binary.LittleEndian.Uint32(b[4:8]))
			bits := binary.LittleEndian.Uint16(b[14:16])
			if format == 0xFFFE && size >= 26 {
				format = binary.LittleEndian.Uint16(b[24:26])
			}
			if format != 1 || bits != 16 {
				return nil, WAVInfo{}, fmt.Errorf("%w: format %d with %d-bit samples; only 16-bit PCM is supported (convert with `sox IN -b 16 -e signed-integer OUT.wav`)", ErrWAVFormat, format, bits)
			}
			if info.Channels < 1 || info.Channels > 8 || info.SampleRate < 8000 || info.SampleRate > 192000 {
				return nil, WAVInfo{}, fmt.Errorf("%w: %d channels at %d Hz", ErrWAVFormat, info.Channels, info.SampleRate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, WAVInfo{}, fmt.Errorf("%w: data chunk before fmt chunk", ErrWAVFormat)
			}
			if size > MaxWAVBytes {
				return nil, WAVInfo{}, fmt.Errorf("%w: %d bytes of audio, more than the %d accepted", ErrWAVFormat, size, MaxWAVBytes)
			}
			b := make([]byte, size)
			n, err := io.ReadFull(r, b)
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, WAVInfo{}, fmt.Errorf("%w: reading data: %v", ErrWAVFormat, err)
			}
			// A truncated data chunk (a recorder killed mid-write) keeps what is there.
			b = b[:n-n%(2*info.Channels)]
			samples := make([]int16, len(b)/2)
			for i := range samples {
				samples[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
			}
			return samples, info, nil
		default:
			if size > MaxWAVBytes {
				return nil, WAVInfo{}, fmt.Errorf("%w: %q chunk of %d bytes", ErrWAVFormat, id, size)
			}
			if _, err := io.CopyN(io.Discard, r, int64(size)+int64(size%2)); err != nil {
				return nil, WAVInfo{}, fmt.Errorf("%w: skipping %q chunk: %v", ErrWAVFormat, id, err)
			}
		}
	}
}

// WAVHeader returns the 44-byte header of a 16-bit PCM WAV holding dataBytes
// of audio. A writer that does not know the length yet writes it with 0 and
// rewrites it at the end.
func WAVHeader(info WAVInfo, dataBytes uint32) []byte {
	h := make([]byte, 44)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], 36+dataBytes)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1)
	binary.LittleEndian.PutUint16(h[22:], uint16(info.Channels))
	binary.LittleEndian.PutUint32(h[24:], uint32(info.SampleRate))
	binary.LittleEndian.PutUint32(h[28:], uint32(info.SampleRate*info.Channels*2))
	binary.LittleEndian.PutUint16(h[32:], uint16(info.Channels*2))
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], dataBytes)
	return h
}

// WriteWAV writes samples (interleaved by channel) as a 16-bit PCM WAV.
func WriteWAV(w io.Writer, info WAVInfo, samples []int16) error {
	b := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	if _, err := w.Write(WAVHeader(info, uint32(len(b)))); err != nil {
		return fmt.Errorf("write WAV header: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write WAV data: %w", err)
	}
	return nil
}
