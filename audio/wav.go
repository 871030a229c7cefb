package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxWAVBytes bounds the audio data a WAV file may hold for ReadWAV and
// NewWAVSource (about 46 minutes of 48 kHz mono 16-bit audio) and the most
// NewWAVSink records, so a file cannot exhaust memory. A header claiming
// more is refused before anything is read.
const MaxWAVBytes = 256 << 20

// ErrWAVFormat is wrapped by every ReadWAV error about the file's contents.
var ErrWAVFormat = errors.New("not a usable WAV file")

// WAVInfo describes a WAV file's audio.
type WAVInfo struct {
	SampleRate int
	Channels   int
}

// wavHeader is what a WAV file's header says, up to the first byte of audio.
type wavHeader struct {
	info      WAVInfo
	dataBytes int64 // the data chunk's length as its header gives it (<= MaxWAVBytes)
	dataAt    int64 // offset of the first byte of audio
}

// wavReadChunk is how much audio ReadWAV reads at a time: memory follows
// the bytes really read, never the lengths a header claims.
const wavReadChunk = 32 << 10

// ReadWAV reads a 16-bit PCM WAV (RIFF/WAVE, format 1 or WAVE_FORMAT_EXTENSIBLE
// with PCM subformat) and returns its samples interleaved by channel. Chunks
// other than "fmt " and "data" are skipped. It rejects anything else, a data
// chunk longer than MaxWAVBytes and one longer than what r holds, with an
// error that wraps ErrWAVFormat and says what was found. It reads the audio
// in pieces, so what it allocates follows what r holds, not what the header
// claims.
func ReadWAV(r io.Reader) ([]int16, WAVInfo, error) {
	return readWAV(r, -1)
}

// readWAV is ReadWAV for a reader known to hold size bytes in all (a file's
// size), or -1 if unknown. With a size, a header claiming more than the file
// holds is refused before any audio is read.
func readWAV(r io.Reader, size int64) ([]int16, WAVInfo, error) {
	h, err := readWAVHeader(r, size)
	if err != nil {
		return nil, WAVInfo{}, err
	}
	samples, err := readWAVData(r, h, size >= 0)
	if err != nil {
		return nil, WAVInfo{}, err
	}
	return samples, h.info, nil
}

// readWAVHeader reads r up to the first byte of audio and validates the
// format. size is the number of bytes r holds in all, or -1 if unknown; with
// a size, every chunk length is checked against it and unknown chunks are
// skipped by seeking when r is an io.Seeker, so a check reads only the
// header. It allocates nothing that a chunk length sizes.
func readWAVHeader(r io.Reader, size int64) (wavHeader, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return wavHeader{}, fmt.Errorf("%w: reading RIFF header: %v (the file is empty or too short to be a WAV)", ErrWAVFormat, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return wavHeader{}, fmt.Errorf("%w: no RIFF/WAVE header (convert it with `sox IN -b 16 OUT.wav`)", ErrWAVFormat)
	}
	off := int64(len(hdr))
	var h wavHeader
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return wavHeader{}, fmt.Errorf("%w: no data chunk: %v", ErrWAVFormat, err)
		}
		off += int64(len(ch))
		id, n := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		padded := n + n%2
		switch id {
		case "fmt ":
			if n < 16 || n > 64 {
				return wavHeader{}, fmt.Errorf("%w: fmt chunk of %d bytes (a PCM WAV has 16 to 40)", ErrWAVFormat, n)
			}
			var arr [66]byte
			b := arr[:padded]
			if size >= 0 && size-off < n {
				return wavHeader{}, fmt.Errorf("%w: the fmt chunk says %d bytes but the file has %s after its header; the file is truncated or not a WAV", ErrWAVFormat, n, sizeText(size-off))
			}
			if _, err := io.ReadFull(r, b); err != nil {
				return wavHeader{}, fmt.Errorf("%w: reading fmt chunk: %v", ErrWAVFormat, err)
			}
			off += int64(len(b))
			format := binary.LittleEndian.Uint16(b[0:2])
			h.info.Channels = int(binary.LittleEndian.Uint16(b[2:4]))
			h.info.SampleRate = int(binary.LittleEndian.Uint32(b[4:8]))
			bits := binary.LittleEndian.Uint16(b[14:16])
			if format == 0xFFFE && n >= 26 {
				format = binary.LittleEndian.Uint16(b[24:26])
			}
			if format != 1 || bits != 16 {
				return wavHeader{}, fmt.Errorf("%w: format %d with %d-bit samples; only 16-bit PCM is supported (convert with `sox IN -b 16 -e signed-integer OUT.wav`)", ErrWAVFormat, format, bits)
			}
			if h.info.Channels < 1 || h.info.Channels > 8 || h.info.SampleRate < 8000 || h.info.SampleRate > 192000 {
				return wavHeader{}, fmt.Errorf("%w: %d channels at %d Hz; 1 to 8 channels at 8000 to 192000 Hz are supported (convert with `sox IN -r 48000 -c 1 OUT.wav`)", ErrWAVFormat, h.info.Channels, h.info.SampleRate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return wavHeader{}, fmt.Errorf("%w: data chunk before fmt chunk", ErrWAVFormat)
			}
			if size >= 0 && n > size-off {
				return wavHeader{}, fmt.Errorf("%w: WAV header says %s of audio but the file has %s after the header; the file is truncated or not a WAV", ErrWAVFormat, sizeText(n), sizeText(size-off))
			}
			if n > MaxWAVBytes {
				return wavHeader{}, fmt.Errorf("%w: WAV header says %s of audio, more than the %s peercall plays (about 46 minutes at 48 kHz mono); cut it shorter (`sox IN OUT.wav trim 0 40:00`)", ErrWAVFormat, sizeText(n), sizeText(MaxWAVBytes))
			}
			h.dataBytes, h.dataAt = n, off
			return h, nil
		default:
			if size >= 0 {
				if size-off < n {
					return wavHeader{}, fmt.Errorf("%w: the %q chunk says %s but the file has %s after its header; the file is truncated or not a WAV", ErrWAVFormat, id, sizeText(n), sizeText(size-off))
				}
				skip := min(padded, size-off)
				if s, ok := r.(io.Seeker); ok {
					if _, err := s.Seek(skip, io.SeekCurrent); err != nil {
						return wavHeader{}, fmt.Errorf("%w: skipping %q chunk: %v", ErrWAVFormat, id, err)
					}
					off += skip
					continue
				}
			}
			if _, err := io.CopyN(io.Discard, r, padded); err != nil {
				return wavHeader{}, fmt.Errorf("%w: skipping %q chunk of %s: %v (the file is truncated or not a WAV)", ErrWAVFormat, id, sizeText(n), err)
			}
			off += padded
		}
	}
}

// readWAVData reads the h.dataBytes of audio that follow the header and
// returns whole sample frames (a trailing partial frame is dropped). If
// sized, the caller has checked that r holds them, and the samples are
// allocated at once; else they grow with what is read. Audio ending before
// the header's length is an error.
func readWAVData(r io.Reader, h wavHeader, sized bool) ([]int16, error) {
	frameBytes := int64(2 * h.info.Channels)
	want := h.dataBytes - h.dataBytes%frameBytes
	hint := want / 2
	if !sized {
		hint = min(hint, wavReadChunk/2)
	}
	samples := make([]int16, 0, hint)
	buf := make([]byte, min(wavReadChunk, h.dataBytes))
	var got int64
	for got < h.dataBytes {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), h.dataBytes-got)])
		for i := 0; i+1 < n; i += 2 {
			samples = append(samples, int16(binary.LittleEndian.Uint16(buf[i:])))
		}
		got += int64(n)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: WAV header says %s of audio but the file has %s after the header; the file is truncated or not a WAV", ErrWAVFormat, sizeText(h.dataBytes), sizeText(got))
		}
		if err != nil {
			return nil, fmt.Errorf("%w: reading audio data: %w", ErrWAVFormat, err)
		}
	}
	return samples[:want/2], nil
}

// sizeText writes n bytes for a person: "20 bytes", "1.5 KiB", "256 MiB".
func sizeText(n int64) string {
	const kib, mib, gib = 1 << 10, 1 << 20, 1 << 30
	unit := func(div float64, name string) string {
		return strings.TrimSuffix(strconv.FormatFloat(float64(n)/div, 'f', 1, 64), ".0") + " " + name
	}
	switch {
	case n == 1:
		return "1 byte"
	case n < 10*kib:
		return strconv.FormatInt(n, 10) + " bytes"
	case n < mib:
		return unit(kib, "KiB")
	case n < gib:
		return unit(mib, "MiB")
	}
	return unit(gib, "GiB")
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
