package audio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
)

func writeWAVFile(t testing.TB, path string, info audio.WAVInfo, s []int16) {
	t.Helper()
	var b bytes.Buffer
	if err := audio.WriteWAV(&b, info, s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readWAVFile(t testing.TB, path string) ([]int16, audio.WAVInfo) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, info, err := audio.ReadWAV(f)
	if err != nil {
		t.Fatalf("ReadWAV(%s): %v", path, err)
	}
	return s, info
}

// TestWAVSourceToSink plays speech from one WAV file into a recording and
// checks the recording holds the same samples.
func TestWAVSourceToSink(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	alice := testaudio.MustSpeech("alice")
	in, out := filepath.Join(dir, "in.wav"), filepath.Join(dir, "out.wav")
	writeWAVFile(t, in, audio.WAVInfo{SampleRate: audio.SampleRate, Channels: 1}, alice)

	for _, tc := range []struct {
		name string
		d    audio.Options
	}{
		{"20ms", audio.Options{}},
		{"10ms", audio.Options{FrameDuration: audio.Frame10ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := audio.OpenSource(ctx, mustSpec(t, "wav:"+in), tc.d)
			if err != nil {
				t.Fatal(err)
			}
			dst, err := audio.OpenSink(ctx, mustSpec(t, "wav:"+out), tc.d)
			if err != nil {
				t.Fatal(err)
			}
			d := tc.d.FrameDuration
			if d == 0 {
				d = audio.Frame20ms
			}
			frame := make([]int16, audio.SamplesPer(d))
			frames := 0
			for {
				err := src.Read(ctx, frame)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := dst.Write(ctx, frame); err != nil {
					t.Fatal(err)
				}
				frames++
			}
			if err := src.Close(); err != nil {
				t.Fatal(err)
			}
			if err := dst.Close(); err != nil {
				t.Fatal(err)
			}
			got, info := readWAVFile(t, out)
			if info.SampleRate != audio.SampleRate || info.Channels != 1 {
				t.Fatalf("recording is %+v", info)
			}
			if want := frames * len(frame); len(got) != want {
				t.Fatalf("recording has %d samples, want %d frames of %d", len(got), frames, len(frame))
			}
			if len(got)-len(alice) >= len(frame) || len(got) < len(alice) {
				t.Fatalf("recording has %d samples for %d played", len(got), len(alice))
			}
			for i, v := range alice {
				if got[i] != v {
					t.Fatalf("sample %d = %d, want %d", i, got[i], v)
				}
			}
			for i, v := range got[len(alice):] {
				if v != 0 {
					t.Fatalf("padding sample %d = %d, want 0", i, v)
				}
			}
		})
	}
}

// TestWAVSinkKilled reads a recording that was never closed, as after a
// crash: the header written after each frame must make it a valid WAV.
func TestWAVSinkKilled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.wav")
	dst, err := audio.NewWAVSink(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	bob := testaudio.MustSpeech("bob")[:48000]
	writeAll(t, dst, bob)
	got, _ := readWAVFile(t, path) // still open: no Close yet
	if len(got) != len(bob) {
		t.Fatalf("unclosed recording holds %d samples, want %d", len(got), len(bob))
	}
	for i := range bob {
		if got[i] != bob[i] {
			t.Fatalf("sample %d = %d, want %d", i, got[i], bob[i])
		}
	}
}

func TestWAVSourceEOFAndLoop(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "short.wav")
	s := make([]int16, 1500) // 1.5 frames of 20 ms (960)
	for i := range s {
		s[i] = int16(i + 1)
	}
	writeWAVFile(t, path, audio.WAVInfo{SampleRate: audio.SampleRate, Channels: 1}, s)
	frame := make([]int16, 960)

	src, err := audio.NewWAVSource(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for k, want := range []error{nil, nil, io.EOF, io.EOF} {
		if err := src.Read(ctx, frame); !errors.Is(err, want) {
			t.Fatalf("read %d: %v, want %v", k, err, want)
		}
		if k == 1 && (frame[539] != 1500 || frame[540] != 0) {
			t.Fatalf("last frame not padded: ...%d, %d", frame[539], frame[540])
		}
	}

	loop, err := audio.OpenSource(ctx, mustSpec(t, "wav:"+path), audio.Options{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close()
	got := readAll(t, loop, 10) // 9600 samples: 6.4 loops, never EOF
	if len(got) != 9600 {
		t.Fatalf("looping source gave %d samples, want 9600", len(got))
	}
	for i, v := range got {
		if want := int16(i%1500 + 1); v != want {
			t.Fatalf("looped sample %d = %d, want %d", i, v, want)
		}
	}
}

// TestWAVSourceResamples plays tones recorded at other rates and checks
// that their frequency and length survive conversion to 48 kHz.
func TestWAVSourceResamples(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		rate     int
		channels int
		hz       float64
	}{
		{16000, 1, 1000},
		{8000, 1, 440},
		{44100, 1, 997},
		{22050, 2, 3000},
		{96000, 1, 1000},
		{48000, 2, 440},
	} {
		t.Run(fmt.Sprintf("%dHz_%dch", tc.rate, tc.channels), func(t *testing.T) {
			mono := toneSamples(tc.hz, tc.rate, tc.rate) // one second
			file := mono
			if tc.channels == 2 { // left = tone + w, right = tone - w: the downmix is the tone
				file = make([]int16, 0, 2*len(mono))
				for i, v := range mono {
					w := int16(i%7) * 1000
					file = append(file, v+w, v-w)
				}
			}
			path := filepath.Join(dir, "tone.wav")
			writeWAVFile(t, path, audio.WAVInfo{SampleRate: tc.rate, Channels: tc.channels}, file)
			src, err := audio.NewWAVSource(path, false)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			got := readAll(t, src, 100)
			if len(got) != audio.SampleRate { // one second is exactly 50 frames
				t.Fatalf("one second at %d Hz became %d samples at 48 kHz", tc.rate, len(got))
			}
			if hz := zeroCrossingHz(got[:47000], audio.SampleRate); math.Abs(hz-tc.hz) > 2 {
				t.Fatalf("tone of %v Hz came out at %.1f Hz", tc.hz, hz)
			}
			var sum float64
			for _, v := range got[100:47000] {
				sum += float64(v) * float64(v)
			}
			rms := math.Sqrt(sum / 46900)
			// Linear interpolation attenuates a tone near the input's
			// Nyquist rate: 3 kHz from 22.05 kHz loses about 6 %.
			if want := 0.5 * math.MaxInt16 / math.Sqrt2; math.Abs(rms-want) > want*0.08 {
				t.Fatalf("RMS %.0f after resampling, want %.0f", rms, want)
			}
		})
	}
}

func TestWAVSourceErrors(t *testing.T) {
	dir := t.TempDir()
	notWAV := filepath.Join(dir, "notes.txt")
	os.WriteFile(notWAV, []byte("hello, not audio"), 0o644)
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.wav"), "no such file"},
		{notWAV, "no RIFF/WAVE header"},
	} {
		_, err := audio.OpenSource(context.Background(), mustSpec(t, "wav:"+tc.path), audio.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("OpenSource(wav:%s) = %v, want an error saying %q", tc.path, err, tc.want)
		}
	}
}

// TestWAVRelativePath checks that a relative wav: path is taken from the
// working directory.
func TestWAVRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	dst, err := audio.OpenSink(context.Background(), mustSpec(t, "wav:rel.wav"), audio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, dst, make([]int16, 960))
	dst.Close()
	if _, info := readWAVFile(t, filepath.Join(dir, "rel.wav")); info.SampleRate != audio.SampleRate {
		t.Fatalf("rel.wav is %+v", info)
	}
}

func mustSpec(t testing.TB, s string) audio.Spec {
	t.Helper()
	spec, err := audio.ParseSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}
