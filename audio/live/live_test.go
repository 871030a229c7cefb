package live

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
)

// TestLiveSwitch switches a live microphone and speaker between virtual
// devices: the frames come from the new device at once, the state and the
// events say which is in use, and a bad spec leaves the device as it was.
func TestLiveSwitch(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var events []Event
	opts := Options{Options: audio.Options{FrameDuration: audio.Frame10ms}, OnChange: func(ev Event) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}}
	src, err := OpenSource(ctx, audio.Spec{Kind: audio.KindSilence}, opts)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, audio.SamplesPer(audio.Frame10ms))
	if err := src.Read(ctx, frame); err != nil || frame[10] != 0 {
		t.Fatalf("silence: %v, sample %d", err, frame[10])
	}
	if err := src.Switch(ctx, audio.Spec{Kind: audio.KindTone, Hz: 1000}); err != nil {
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
	if err := src.Switch(ctx, audio.Spec{Kind: audio.KindWAV, Path: missing}); err == nil {
		t.Fatal("switched to a WAV file that does not exist")
	}
	if st := src.State(); st.Using != "tone:1000" {
		t.Errorf("a failed switch changed the device: %+v", st)
	}

	path := filepath.Join(t.TempDir(), "out.wav")
	dst, err := OpenSink(ctx, audio.Spec{Kind: audio.KindNull}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.Switch(ctx, audio.Spec{Kind: audio.KindWAV, Path: path}); err != nil {
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
	if err := src.Read(ctx, frame); !errors.Is(err, audio.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, _, err := audio.ReadWAV(f)
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
	w, err := audio.NewWAVSink(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, audio.SamplesPer(audio.Frame20ms))
	if err := w.Write(ctx, frame); err != nil {
		t.Fatal(err)
	}
	w.Close()
	src, err := OpenSource(ctx, audio.Spec{Kind: audio.KindWAV, Path: path}, Options{})
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
	var events []Event
	failAt3 := func(k int, buf []int16) error {
		if k >= 3 {
			return errors.New("device unplugged")
		}
		for i := range buf {
			buf[i] = 1000
		}
		return nil
	}
	l := &Source{live[audio.Source]{dir: DirIn, opts: audio.Options{FrameDuration: audio.Frame20ms, Logger: slog.New(slog.DiscardHandler)},
		onChange: func(ev Event) { events = append(events, ev) },
		open: func(_ context.Context, s audio.Spec) (audio.Source, error) {
			if s.Kind == audio.KindDefault {
				return nil, errors.New("no default card here")
			}
			return &card{script: failAt3}, nil
		},
		silent: func() audio.Source { return audio.Paced(audio.NewSilence(), audio.Frame20ms) },
	}}
	if err := l.start(ctx, audio.Spec{Kind: audio.KindPortAudio, Name: "USB"}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	frame := make([]int16, audio.SamplesPer(audio.Frame20ms))
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
	var events []Event
	var mu sync.Mutex
	var onDefault int
	failAt2 := func(k int, _ []int16) error {
		if k >= 2 {
			return errors.New("device unplugged")
		}
		return nil
	}
	countDefault := func(int, []int16) error {
		mu.Lock()
		onDefault++
		mu.Unlock()
		return nil
	}
	l := &Sink{live[audio.Sink]{dir: DirOut, opts: audio.Options{FrameDuration: audio.Frame20ms, Logger: slog.New(slog.DiscardHandler)},
		onChange: func(ev Event) { events = append(events, ev) },
		open: func(_ context.Context, s audio.Spec) (audio.Sink, error) {
			script := failAt2
			if s.Kind == audio.KindDefault {
				script = countDefault
			}
			return &card{script: script}, nil
		},
		silent: func() audio.Sink { return audio.PacedSink(audio.NewNull(), audio.Frame20ms) },
	}}
	if err := l.start(ctx, audio.Spec{Kind: audio.KindPortAudio, Name: "USB"}); err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, audio.SamplesPer(audio.Frame20ms))
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

// card is a scripted sound card for these tests (media's PortAudio test
// runs the real one): its k-th Read or Write runs script.
type card struct {
	mu     sync.Mutex
	k      int
	script func(k int, frame []int16) error
}

func (c *card) next() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.k++
	return c.k - 1
}

func (c *card) Read(_ context.Context, f []int16) error  { return c.script(c.next(), f) }
func (c *card) Write(_ context.Context, f []int16) error { return c.script(c.next(), f) }
func (c *card) Close() error                             { return nil }
