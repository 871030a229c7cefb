package audio

import (
	"bytes"
	"errors"
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
	if len(out) != len(in) {
		t.Fatalf("got %d samples, want %d", len(out), len(in))
	}
	for i := range in {
		if in[i] != out[i] {
			t.Fatalf("sample %d = %d, want %d", i, out[i], in[i])
		}
	}
}

func TestReadWAVRejects(t *testing.T) {
	good := new(bytes.Buffer)
	_ = WriteWAV(good, WAVInfo{SampleRate: 48000, Channels: 1}, []int16{1, 2})
	eightBit := append([]byte(nil), good.Bytes()...)
	eightBit[34] = 8
	for name, b := range map[string][]byte{
		"empty":     nil,
		"not riff":  []byte("RIFX\x00\x00\x00\x00WAVE"),
		"no data":   good.Bytes()[:36],
		"8-bit":     eightBit,
		"huge data": append(append([]byte(nil), good.Bytes()[:40]...), 0xff, 0xff, 0xff, 0xff),
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := ReadWAV(bytes.NewReader(b)); !errors.Is(err, ErrWAVFormat) {
				t.Fatalf("err = %v, want ErrWAVFormat", err)
			}
		})
	}
}

func FuzzReadWAV(f *testing.F) {
	good := new(bytes.Buffer)
	_ = WriteWAV(good, WAVInfo{SampleRate: 48000, Channels: 2}, []int16{1, 2, 3, 4})
	f.Add(good.Bytes())
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, info, err := ReadWAV(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrWAVFormat) {
				t.Fatalf("error %v does not wrap ErrWAVFormat", err)
			}
			return
		}
		if len(s)%info.Channels != 0 {
			t.Fatalf("%d samples for %d channels", len(s), info.Channels)
		}
	})
}
