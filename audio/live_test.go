package audio

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestLiveSwitch switches a live microphone and speaker between virtual
// devices: the frames come from the new device at once, the state and the
// events say which is in use, and a bad spec leaves the device as it was.
func TestLiveSwitch(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var events []DeviceEvent
	opts := LiveOptions{Options: Options{FrameDuration: Frame10ms}, OnChange: func(ev DeviceEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}}
	src, err := OpenLiveSource(ctx, Spec{Kind: KindSilence}, opts)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, SamplesPer(Frame10ms))
	if err := src.Read(ctx, frame); err != nil || frame[10] != 0 {
		t.Fatalf("silence: %v, sample %d", err, frame[10])
	}
	if err := src.Switch(ctx, Spec{Kind: KindTone, Hz: 1000}); err != nil {
		t.Fatal(err)
	}
	nonzero := false
	for range 2 {
		if err := src.Read(ctx, frame); err != nil {
			t.Fatal(err)
		}
		for _, v := range frame {
			nonzero = nonzero || v != 0
		}
	}
	if !nonzero {
		t.Fatal("after the switch to a tone the frames are silent")
	}
	if st := src.State(); st.Want != "tone:1000" || st.Using != "tone:1000" || st.Warning != "" {
		t.Errorf("state %+v", st)
	}
	missing := filepath.Join(t.TempDir(), "missing.wav")
	if err := src.Switch(ctx, Spec{Kind: KindWAV, Path: missing}); err == nil {
		t.Fatal("switched to a WAV file that does not exist")
	}
	if st := src.State(); st.Using != "tone:1000" {
		t.Errorf("a failed switch changed the device: %+v", st)
	}

	path := filepath.Join(t.TempDir(), "out.wav")
	dst, err := OpenLiveSink(ctx, Spec{Kind: KindNull}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.Switch(ctx, Spec{Kind: KindWAV, Path: path}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := dst.Write(ctx, frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := src.Read(ctx, frame); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, _, err := ReadWAV(f)
	if err != nil || len(got) != 5*len(frame) {
		t.Fatalf("the speaker's WAV after the switch holds %d samples (%v), want %d", len(got), err, 5*len(frame))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[0].Dir != DirIn || events[0].Reason != ReasonSwitched || events[0].Using != "tone:1000" ||
		events[1].Dir != DirOut || events[1].Using != "wav:"+path {
		t.Errorf("events %+v", events)
	}
}

// TestLiveSourceEnds: a WAV microphone that ends ends the live source
// (io.EOF), it is not replaced by a fallback.
func TestLiveSourceEnds(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "in.wav")
	w, err := NewWAVSink(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, SamplesPer(Frame20ms))
	if err := w.Write(ctx, frame); err != nil {
		t.Fatal(err)
	}
	w.Close()
	src, err := OpenLiveSource(ctx, Spec{Kind: KindWAV, Path: path}, LiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.Read(ctx, frame); err != nil {
		t.Fatal(err)
	}
	if err := src.Read(ctx, frame); !errors.Is(err, io.EOF) {
		t.Fatalf("Read at the end of the file: %v, want io.EOF", err)
	}
	if st := src.State(); st.Using != st.Want {
		t.Errorf("state %+v: the end of a file is not a failure", st)
	}
}

// TestLiveFailover: a sound card that fails (a scripted device) is
// replaced at once; without a default card it is silence, paced, and a
// warning says so.
func TestLiveFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var events []DeviceEvent
	failAt3 := func(k int, buf []int16, _ <-chan struct{}) error {
		if k >= 3 {
			return errors.New("device unplugged")
		}
		for i := range buf {
			buf[i] = 1000
		}
		return nil
	}
	l := &LiveSource{live[Source]{dir: DirIn, opts: Options{FrameDuration: Frame20ms, Logger: quiet()},
		onChange: func(ev DeviceEvent) { events = append(events, ev) },
		open: func(_ context.Context, s Spec) (Source, error) {
			if s.Kind == KindDefault {
				return nil, errors.New("no default card here")
			}
			return newDeviceSource(newScriptedIO(SampleRate, 1, Frame20ms, failAt3), Frame20ms, quiet()), nil
		},
		silent: func() Source { return Paced(NewSilence(), Frame20ms) },
	}}
	if err := l.start(ctx, Spec{Kind: KindPortAudio, Name: "USB"}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	frame := make([]int16, SamplesPer(Frame20ms))
	for k := range 10 {
		if err := l.Read(ctx, frame); err != nil {
			t.Fatalf("frame %d: %v", k, err)
		}
		if want := int16(1000); k < 3 && frame[0] != want {
			t.Fatalf("frame %d from the card: %d", k, frame[0])
		}
		if k >= 3 && frame[0] != 0 {
			t.Fatalf("frame %d after the failure: %d, want silence", k, frame[0])
		}
	}
	st := l.State()
	if st.Using != "silence" || st.Want != "pa:USB" || st.Warning == "" {
		t.Errorf("state %+v", st)
	}
	if len(events) != 1 || events[0].Reason != ReasonFailed || events[0].Using != "silence" {
		t.Errorf("events %+v", events)
	}
}

// TestLiveSinkFailover: a speaker that fails is replaced by the system
// default when there is one; the frame that failed is played there.
func TestLiveSinkFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var events []DeviceEvent
	var mu sync.Mutex
	var onDefault int
	failAt2 := func(k int, _ []int16, _ <-chan struct{}) error {
		if k >= 2 {
			return errors.New("device unplugged")
		}
		return nil
	}
	countDefault := func(int, []int16, <-chan struct{}) error {
		mu.Lock()
		onDefault++
		mu.Unlock()
		return nil
	}
	l := &LiveSink{live[Sink]{dir: DirOut, opts: Options{FrameDuration: Frame20ms, Logger: quiet()},
		onChange: func(ev DeviceEvent) { events = append(events, ev) },
		open: func(_ context.Context, s Spec) (Sink, error) {
			script := failAt2
			if s.Kind == KindDefault {
				script = countDefault
			}
			return newDeviceSink(newScriptedIO(SampleRate, 1, Frame20ms, script), Frame20ms, quiet()), nil
		},
		silent: func() Sink { return PacedSink(NewNull(), Frame20ms) },
	}}
	if err := l.start(ctx, Spec{Kind: KindPortAudio, Name: "USB"}); err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, SamplesPer(Frame20ms))
	for k := range 20 {
		if err := l.Write(ctx, frame); err != nil {
			t.Fatalf("frame %d: %v", k, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st := l.State(); st.Using != "default" || st.Want != "pa:USB" || st.Warning == "" {
		t.Errorf("state %+v", st)
	}
	if len(events) != 1 || events[0].Dir != DirOut || events[0].Reason != ReasonFailed || events[0].Using != "default" {
		t.Errorf("events %+v", events)
	}
	mu.Lock()
	defer mu.Unlock()
	if onDefault < 10 {
		t.Errorf("the default played %d frames of the 20 written, want most of them", onDefault)
	}
}
