package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestWAVRoundTrip(t *testing.T) {
	in := []int16{0, 1, -1, 32767, -32768, 1234}
	var buf bytes.Buffer
	if err := WriteWAV(&buf, WAVInfo{SampleRate: 48000, Channels: 1}, in); err != nil {
		t.Fatal(err)
	}
	out, info, err := ReadWAV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if info.SampleRate != 48000 || info.Channels != 1 {
		t.Fatalf("info = %+v", info)
	}
	if !slices.Equal(out, in) {
		t.Fatalf("got %v, want %v", out, in)
	}
}

// wavBytes returns a WAV of samples whose data chunk length says claim
// bytes (the real length if claim < 0), with extra chunks before "data".
func wavBytes(info WAVInfo, samples []int16, claim int64, extra ...[]byte) []byte {
	var b bytes.Buffer
	_ = WriteWAV(&b, info, samples)
	w := b.Bytes()
	if claim >= 0 {
		binary.LittleEndian.PutUint32(w[40:], uint32(claim))
	}
	var out []byte
	out = append(out, w[:36]...)
	for _, e := range extra {
		out = append(out, e...)
	}
	return append(out, w[36:]...)
}

// chunk returns a RIFF chunk with the given id and body, its length saying
// claim bytes (the body's length if claim < 0).
func chunk(id string, body []byte, claim int64) []byte {
	if claim < 0 {
		claim = int64(len(body))
	}
	c := binary.LittleEndian.AppendUint32([]byte(id), uint32(claim))
	c = append(c, body...)
	if len(body)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

// justReader hides everything but Read (no Seek, no WriteTo), as a pipe
// would.
type justReader struct{ r io.Reader }

func (j justReader) Read(p []byte) (int, error) { return j.r.Read(p) }

func TestReadWAVRejects(t *testing.T) {
	mono := WAVInfo{SampleRate: 48000, Channels: 1}
	good := wavBytes(mono, []int16{1, 2}, -1)
	eightBit := slices.Clone(good)
	eightBit[34] = 8
	stereo3ch := slices.Clone(good)
	binary.LittleEndian.PutUint16(stereo3ch[22:], 9)
	slow := slices.Clone(good)
	binary.LittleEndian.PutUint32(slow[24:], 4000)
	huge := slices.Clone(good)
	binary.LittleEndian.PutUint32(huge[40:], 0xffffffff)
	for _, tc := range []struct {
		name string
		b    []byte
		want string // in the error, read with and without the file's size
	}{
		{"empty", nil, "too short to be a WAV"},
		{"not riff", []byte("RIFX\x00\x00\x00\x00WAVE"), "no RIFF/WAVE header"},
		{"no data", good[:36], "no data chunk"},
		{"8-bit", eightBit, "only 16-bit PCM"},
		{"9 channels", stereo3ch, "9 channels at 48000 Hz"},
		{"4 kHz", slow, "1 channels at 4000 Hz"},
		{"fmt of 8 bytes", append([]byte("RIFF\x00\x00\x00\x00WAVE"), chunk("fmt ", make([]byte, 8), -1)...), "fmt chunk of 8 bytes"},
		{"data before fmt", append([]byte("RIFF\x00\x00\x00\x00WAVE"), chunk("data", []byte{1, 2}, -1)...), "data chunk before fmt"},
		{"huge data", huge, "WAV header says 4 GiB of audio"},
		{"data claims 256 MiB", wavBytes(mono, make([]int16, 10), 256<<20), "WAV header says 256 MiB of audio but the file has 20 bytes after the header; the file is truncated or not a WAV"},
		{"data claims 1 byte more", wavBytes(mono, make([]int16, 10), 21), "WAV header says 21 bytes of audio but the file has 20 bytes after the header"},
		{"LIST chunk claims 200 MiB", wavBytes(mono, []int16{1}, -1, chunk("LIST", []byte("INFO"), 200<<20)), `"LIST" chunk`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, read := range []struct {
				how  string
				read func() error
			}{
				{"unsized", func() error { _, _, err := ReadWAV(justReader{bytes.NewReader(tc.b)}); return err }},
				{"sized", func() error { _, _, err := readWAV(bytes.NewReader(tc.b), int64(len(tc.b))); return err }},
			} {
				err := read.read()
				if !errors.Is(err, ErrWAVFormat) {
					t.Fatalf("%s: err = %v, want ErrWAVFormat", read.how, err)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%s: err = %v, want it to say %q", read.how, err, tc.want)
				}
			}
		})
	}
}

// TestReadWAVAccepts reads files with what a real WAV may hold besides
// fmt and data, sized (seeking past chunks) and unsized.
func TestReadWAVAccepts(t *testing.T) {
	samples := []int16{5, -5, 7, -7}
	ext := wavBytes(WAVInfo{SampleRate: 44100, Channels: 2}, samples, -1)
	// WAVE_FORMAT_EXTENSIBLE with PCM subformat: a 40-byte fmt chunk.
	fmtExt := make([]byte, 40)
	copy(fmtExt, ext[20:36])
	binary.LittleEndian.PutUint16(fmtExt[0:], 0xFFFE)
	binary.LittleEndian.PutUint16(fmtExt[16:], 22)
	binary.LittleEndian.PutUint16(fmtExt[24:], 1)
	extensible := append(append([]byte("RIFF\x00\x00\x00\x00WAVE"), chunk("fmt ", fmtExt, -1)...), chunk("data", ext[44:], -1)...)
	for _, tc := range []struct {
		name string
		b    []byte
		want []int16
		info WAVInfo
	}{
		{"plain", wavBytes(WAVInfo{SampleRate: 48000, Channels: 1}, samples, -1), samples, WAVInfo{48000, 1}},
		{"LIST and odd junk chunk", wavBytes(WAVInfo{SampleRate: 16000, Channels: 1}, samples, -1, chunk("LIST", []byte("INFOabc"), -1), chunk("junk", make([]byte, 3000), -1)), samples, WAVInfo{16000, 1}},
		{"extensible", extensible, samples, WAVInfo{44100, 2}},
		{"partial sample frame dropped", wavBytes(WAVInfo{SampleRate: 48000, Channels: 2}, []int16{1, 2, 3}, -1), []int16{1, 2}, WAVInfo{48000, 2}},
		{"empty data", wavBytes(WAVInfo{SampleRate: 48000, Channels: 1}, nil, -1), []int16{}, WAVInfo{48000, 1}},
		{"trailing chunk after data", append(wavBytes(WAVInfo{SampleRate: 48000, Channels: 1}, samples, -1), chunk("LIST", []byte("xx"), -1)...), samples, WAVInfo{48000, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, sized := range []bool{false, true} {
				size := int64(-1)
				if sized {
					size = int64(len(tc.b))
				}
				got, info, err := readWAV(bytes.NewReader(tc.b), size)
				if err != nil {
					t.Fatalf("sized %v: %v", sized, err)
				}
				if info != tc.info || !slices.Equal(got, tc.want) {
					t.Fatalf("sized %v: %v %+v, want %v %+v", sized, got, info, tc.want, tc.info)
				}
			}
		})
	}
}

// allocated returns the bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestWAVHeaderSizesNoAllocation gives every reader of WAV files a 64-byte
// file whose header claims 256 MiB of audio: each must refuse it saying so,
// and allocate next to nothing (it used to allocate the 256 MiB). The
// control, a real 2 MiB file, shows the measurement sees allocations.
func TestWAVHeaderSizesNoAllocation(t *testing.T) {
	const limit = 4 << 20
	dir := t.TempDir()
	lie := wavBytes(WAVInfo{SampleRate: 48000, Channels: 1}, make([]int16, 10), 256<<20)
	if len(lie) != 64 {
		t.Fatalf("test file is %d bytes, want 64", len(lie))
	}
	liePath := filepath.Join(dir, "lie.wav")
	realPath := filepath.Join(dir, "real.wav")
	if err := os.WriteFile(liePath, lie, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(realPath, wavBytes(WAVInfo{SampleRate: 48000, Channels: 1}, make([]int16, 1<<20), -1), 0o644); err != nil {
		t.Fatal(err)
	}
	const want = "WAV header says 256 MiB of audio but the file has 20 bytes after the header; the file is truncated or not a WAV"
	for _, tc := range []struct {
		name     string
		run      func() error
		min, max uint64
		wantErr  string
	}{
		{"ReadWAV from a pipe", func() error { _, _, err := ReadWAV(justReader{bytes.NewReader(lie)}); return err }, 0, limit, want},
		{"ReadWAV from the file", func() error {
			f, err := os.Open(liePath)
			if err != nil {
				return err
			}
			defer f.Close()
			_, _, err = ReadWAV(f)
			return err
		}, 0, limit, want},
		{"NewWAVSource", func() error { _, err := NewWAVSource(liePath, false); return err }, 0, limit, want},
		{"OpenSource", func() error {
			_, err := OpenSource(context.Background(), Spec{Kind: KindWAV, Path: liePath}, Options{})
			return err
		}, 0, limit, want},
		{"CheckSource", func() error { return CheckSource(context.Background(), Spec{Kind: KindWAV, Path: liePath}) }, 0, limit, want},
		{"control: a real 2 MiB file", func() error {
			src, err := NewWAVSource(realPath, false)
			if err == nil {
				src.Close()
			}
			return err
		}, 2 << 20, 3 << 20, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			n := allocated(func() { err = tc.run() })
			t.Logf("allocated %d bytes (%s): %v", n, sizeText(int64(n)), err)
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want it to say %q", err, tc.wantErr)
			}
			if n < tc.min || n > tc.max {
				t.Fatalf("allocated %d bytes, want %d..%d", n, tc.min, tc.max)
			}
		})
	}
}

func TestSizeText(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 bytes"}, {1, "1 byte"}, {20, "20 bytes"}, {10239, "10239 bytes"},
		{10240, "10 KiB"}, {15 << 10, "15 KiB"}, {1536 * 10, "15 KiB"}, {10<<20 - 1, "10 MiB"}, {1<<20 - 1, "1024 KiB"}, {3 << 19, "1.5 MiB"},
		{256 << 20, "256 MiB"}, {MaxWAVBytes + 1<<19, "256.5 MiB"}, {0xffffffff, "4 GiB"},
	} {
		if got := sizeText(tc.n); got != tc.want {
			t.Errorf("sizeText(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func FuzzReadWAV(f *testing.F) {
	stereo := WAVInfo{SampleRate: 48000, Channels: 2}
	f.Add(wavBytes(stereo, []int16{1, 2, 3, 4}, -1))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00"))
	f.Add(wavBytes(stereo, []int16{1, 2, 3, 4}, 256<<20))
	f.Add(wavBytes(stereo, []int16{1, 2, 3}, -1, chunk("LIST", []byte("INFOx"), -1)))
	f.Add(wavBytes(stereo, nil, -1, chunk("LIST", nil, 1<<30)))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, herr := readWAVHeader(bytes.NewReader(b), int64(len(b)))
		s, info, err := ReadWAV(justReader{bytes.NewReader(b)})
		s2, info2, err2 := readWAV(justReader{bytes.NewReader(b)}, int64(len(b))) // sized, skipping without Seek
		for _, e := range []error{herr, err, err2} {
			if e != nil && !errors.Is(e, ErrWAVFormat) {
				t.Fatalf("error %v does not wrap ErrWAVFormat", e)
			}
		}
		if (herr == nil) != (err == nil) || (err == nil) != (err2 == nil) {
			t.Fatalf("header check says %v, ReadWAV %v, sized read %v: they must agree", herr, err, err2)
		}
		if err != nil {
			return
		}
		if h.info != info || info2 != info || !slices.Equal(s, s2) {
			t.Fatalf("header %+v, ReadWAV %+v, sized %+v disagree", h.info, info, info2)
		}
		if info.Channels < 1 || info.Channels > 8 || info.SampleRate < 8000 || info.SampleRate > 192000 {
			t.Fatalf("accepted %+v", info)
		}
		if h.dataBytes > MaxWAVBytes || h.dataAt+h.dataBytes > int64(len(b)) {
			t.Fatalf("header says %d bytes at %d of a %d-byte file", h.dataBytes, h.dataAt, len(b))
		}
		frame := int64(2 * info.Channels)
		if want := (h.dataBytes - h.dataBytes%frame) / 2; int64(len(s)) != want {
			t.Fatalf("%d samples for %d bytes of %d channels", len(s), h.dataBytes, info.Channels)
		}
		for i, v := range s {
			if want := int16(binary.LittleEndian.Uint16(b[h.dataAt+2*int64(i):])); v != want {
				t.Fatalf("sample %d = %d, want %d", i, v, want)
			}
		}
	})
}
