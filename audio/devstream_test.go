package audio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// scriptedIO is a deviceIO whose transfers run a test's script. It is a
// fake, used because ALSA's null and file plugins accept every rate and
// never fail or hang, so a 44.1 kHz-only card, a card unplugged mid-call or
// a stuck driver cannot be produced here; portaudio_test.go runs the real
// backend for the normal path.
type scriptedIO struct {
	buf    []int16
	r, ch  int
	script func(k int, buf []int16, aborted <-chan struct{}) error // the k-th transfer

	mu      sync.Mutex
	k       int
	aborted chan struct{}
	abortMu sync.Once
	closed  bool
}

func newScriptedIO(rate, ch int, d time.Duration, script func(int, []int16, <-chan struct{}) error) *scriptedIO {
	n := int(math.Round(float64(rate) * d.Seconds()))
	return &scriptedIO{buf: make([]int16, n*ch), r: rate, ch: ch, script: script, aborted: make(chan struct{})}
}

func (s *scriptedIO) buffer() []int16 { return s.buf }
func (s *scriptedIO) rate() int       { return s.r }
func (s *scriptedIO) channels() int   { return s.ch }
func (s *scriptedIO) name() string    { return "scripted" }
func (s *scriptedIO) abort() error    { s.abortMu.Do(func() { close(s.aborted) }); return nil }
func (s *scriptedIO) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *scriptedIO) transfer() error {
	s.mu.Lock()
	k := s.k
	s.k++
	s.mu.Unlock()
	return s.script(k, s.buf, s.aborted)
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func crossingHz(s []int16, rate int) float64 {
	c := 0
	for i := 1; i < len(s); i++ {
		if (s[i-1] < 0) != (s[i] < 0) {
			c++
		}
	}
	return float64(c) / 2 / (float64(len(s)) / float64(rate))
}

// TestDeviceSourceConverts captures from a 44.1 kHz stereo card: frames must
// come out mono at 48 kHz with the tone's frequency, and as many of them as
// the card's time allows.
func TestDeviceSourceConverts(t *testing.T) {
	for _, d := range []time.Duration{Frame20ms, Frame10ms} {
		t.Run(d.String(), func(t *testing.T) {
			const rate, hz = 44100, 1000.0
			gen := NewTone(hz*SampleRate/rate, 0.5)
			dev := newScriptedIO(rate, 2, d, func(k int, buf []int16, _ <-chan struct{}) error {
				mono := make([]int16, len(buf)/2)
				gen.Read(context.Background(), mono)
				for i, v := range mono { // left = tone + w, right = tone - w
					w := int16(i%5) * 999
					buf[2*i], buf[2*i+1] = v+w, v-w
				}
				return nil
			})
			src := newDeviceSource(dev, d, quiet())
			frame := make([]int16, SamplesPer(d))
			var got []int16
			for range int(time.Second / d) {
				if err := src.Read(context.Background(), frame); err != nil {
					t.Fatal(err)
				}
				got = append(got, frame...)
			}
			if err := src.Close(); err != nil {
				t.Fatal(err)
			}
			if f := crossingHz(got[10:], SampleRate); math.Abs(f-hz) > 2 {
				t.Fatalf("1000 Hz tone captured at 44.1 kHz came out at %.1f Hz", f)
			}
			if st := src.Stats(); st.Frames != uint64(time.Second/d) || st.Overruns != 0 {
				t.Fatalf("stats %+v", st)
			}
			dev.mu.Lock()
			defer dev.mu.Unlock()
			if !dev.closed {
				t.Fatal("Close did not close the device")
			}
			// One second at 48 kHz needs one second of the card's audio,
			// give or take the queue the goroutine may have filled.
			if want := int(time.Second / d); dev.k < want || dev.k > want+devQueue+3 {
				t.Fatalf("%d device transfers for %d frames", dev.k, want)
			}
		})
	}
}

// TestDeviceSinkConverts plays to a 44.1 kHz stereo card: both channels must
// carry the tone at its frequency.
func TestDeviceSinkConverts(t *testing.T) {
	const rate, hz = 44100, 440.0
	var mu sync.Mutex
	var left, right []int16
	dev := newScriptedIO(rate, 2, Frame20ms, func(k int, buf []int16, _ <-chan struct{}) error {
		mu.Lock()
		defer mu.Unlock()
		for i := 0; i < len(buf); i += 2 {
			left, right = append(left, buf[i]), append(right, buf[i+1])
		}
		return nil
	})
	dst := newDeviceSink(dev, Frame20ms, quiet())
	gen := NewTone(hz, 0.5)
	frame := make([]int16, 960)
	for range 50 {
		gen.Read(context.Background(), frame)
		if err := dst.Write(context.Background(), frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(left) != rate { // Close played out the queue
		t.Fatalf("played %d samples at 44.1 kHz for one second of audio", len(left))
	}
	for i := range left {
		if left[i] != right[i] {
			t.Fatalf("channel samples %d differ: %d vs %d", i, left[i], right[i])
		}
	}
	if f := crossingHz(left, rate); math.Abs(f-hz) > 2 {
		t.Fatalf("440 Hz tone played at 44.1 kHz measured %.1f Hz", f)
	}
}

// TestDeviceXrunsCounted checks that overflows and underflows are counted
// and the audio goes on.
func TestDeviceXrunsCounted(t *testing.T) {
	every5 := func(k int, buf []int16, _ <-chan struct{}) error {
		if k%5 == 4 {
			return fmt.Errorf("%w: input overflowed", errXrun)
		}
		return nil
	}
	src := newDeviceSource(newScriptedIO(SampleRate, 1, Frame20ms, every5), Frame20ms, quiet())
	frame := make([]int16, 960)
	for range 20 {
		if err := src.Read(context.Background(), frame); err != nil {
			t.Fatalf("Read after an overrun: %v", err)
		}
	}
	src.Close()
	if st := src.Stats(); st.Overruns < 4 || st.Frames != 20 {
		t.Fatalf("source stats %+v, want 4 or more overruns in 20 frames", st)
	}

	dst := newDeviceSink(newScriptedIO(SampleRate, 1, Frame20ms, every5), Frame20ms, quiet())
	for range 20 {
		if err := dst.Write(context.Background(), frame); err != nil {
			t.Fatalf("Write after an underrun: %v", err)
		}
	}
	dst.Close()
	if st := dst.Stats(); st.Underruns < 3 {
		t.Fatalf("sink stats %+v, want 3 or more underruns", st)
	}
}

var errUnplugged = errors.New("device unplugged")

// TestDeviceFailsMidCall checks that a card failing mid-call makes Read and
// Write return a wrapped error rather than hang, after the audio captured
// before the failure.
func TestDeviceFailsMidCall(t *testing.T) {
	failAt3 := func(k int, buf []int16, _ <-chan struct{}) error {
		if k >= 3 {
			return errUnplugged
		}
		buf[0] = int16(k + 1)
		return nil
	}
	src := newDeviceSource(newScriptedIO(SampleRate, 1, Frame20ms, failAt3), Frame20ms, quiet())
	defer src.Close()
	frame := make([]int16, 960)
	for k := range 3 {
		if err := src.Read(context.Background(), frame); err != nil || frame[0] != int16(k+1) {
			t.Fatalf("frame %d before the failure: %v, first sample %d", k, err, frame[0])
		}
	}
	err := src.Read(context.Background(), frame)
	if !errors.Is(err, errUnplugged) || !strings.Contains(err.Error(), `capture from "scripted" failed`) {
		t.Fatalf("Read after the failure: %v", err)
	}

	dst := newDeviceSink(newScriptedIO(SampleRate, 1, Frame20ms, failAt3), Frame20ms, quiet())
	defer dst.Close()
	for k := 0; ; k++ {
		err := dst.Write(context.Background(), frame)
		if err == nil {
			if k > 10 {
				t.Fatal("Write kept accepting frames after the device failed")
			}
			continue
		}
		if !errors.Is(err, errUnplugged) || !strings.Contains(err.Error(), `playback to "scripted" failed`) {
			t.Fatalf("Write after the failure: %v", err)
		}
		break
	}
}

// TestDeviceStalls runs a card that stops moving audio on synctest's fake
// clock: Read and Write give up with ErrDeviceStalled after StallTimeout,
// ctx still ends them sooner, and Close aborts the stuck transfer.
func TestDeviceStalls(t *testing.T) {
	stuck := func(k int, buf []int16, aborted <-chan struct{}) error {
		if k >= 1 {
			<-aborted
			return errors.New("aborted")
		}
		return nil
	}
	synctest.Test(t, func(t *testing.T) {
		src := newDeviceSource(newScriptedIO(SampleRate, 1, Frame20ms, stuck), Frame20ms, quiet())
		frame := make([]int16, 960)
		if err := src.Read(context.Background(), frame); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := src.Read(ctx, frame); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Read on a stuck card with a 100ms ctx: %v", err)
		}
		start := time.Now()
		if err := src.Read(context.Background(), frame); !errors.Is(err, ErrDeviceStalled) {
			t.Fatalf("Read on a stuck card: %v", err)
		}
		if time.Since(start) != StallTimeout {
			t.Fatalf("stall reported after %v", time.Since(start))
		}
		if err := src.Close(); err != nil {
			t.Fatalf("Close of a stuck card that abort frees: %v", err)
		}
		if err := src.Read(context.Background(), frame); !errors.Is(err, ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		dst := newDeviceSink(newScriptedIO(SampleRate, 1, Frame20ms, stuck), Frame20ms, quiet())
		frame := make([]int16, 960)
		var err error
		for k := 0; k < 20 && err == nil; k++ {
			err = dst.Write(context.Background(), frame)
		}
		if !errors.Is(err, ErrDeviceStalled) {
			t.Fatalf("Write to a stuck card: %v", err)
		}
		if err := dst.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

// TestDeviceHungClose checks that Close of a card that even abort cannot
// free reports it instead of hanging or closing the stream under the
// transfer, and that the stream is closed once the transfer returns.
func TestDeviceHungClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		dev := newScriptedIO(SampleRate, 1, Frame20ms, func(k int, buf []int16, _ <-chan struct{}) error {
			if k >= 1 {
				<-release
				return io.EOF
			}
			return nil
		})
		src := newDeviceSource(dev, Frame20ms, quiet())
		frame := make([]int16, 960)
		src.Read(context.Background(), frame)
		err := src.Close()
		if !errors.Is(err, ErrDeviceStalled) || !strings.Contains(err.Error(), "closed when the transfer returns") {
			t.Fatalf("Close of a hung card: %v", err)
		}
		dev.mu.Lock()
		closed := dev.closed
		dev.mu.Unlock()
		if closed {
			t.Fatal("the stream was closed under a running transfer")
		}
		close(release) // the transfer returns at last
		<-src.dead
		dev.mu.Lock()
		closed = dev.closed
		dev.mu.Unlock()
		if !closed {
			t.Fatal("the stream stayed open after its stuck transfer returned")
		}
	})
}

func TestDeviceFrameSize(t *testing.T) {
	ok := func(int, []int16, <-chan struct{}) error { return nil }
	src := newDeviceSource(newScriptedIO(SampleRate, 1, Frame20ms, ok), Frame20ms, quiet())
	defer src.Close()
	if err := src.Read(context.Background(), make([]int16, 480)); err == nil {
		t.Fatal("a 20 ms device accepted a 10 ms frame")
	}
	dst := newDeviceSink(newScriptedIO(SampleRate, 1, Frame20ms, ok), Frame20ms, quiet())
	defer dst.Close()
	if err := dst.Write(context.Background(), make([]int16, 480)); err == nil {
		t.Fatal("a 20 ms device accepted a 10 ms frame")
	}
}
