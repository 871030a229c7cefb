package callharness

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/call"
)

// LoopAudio is a node's virtual audio for calls that last: each call sends
// Send over and over (paced in real time) and keeps, frame by frame, both
// what the microphone gave (Sent) and what was played (Heard), so that a
// test can compare a stretch of one with the same stretch of the other.
type LoopAudio struct {
	Send []int16

	mu    sync.Mutex
	calls []*LoopCall
}

// LoopCall is one call's audio: what was captured and what was played.
type LoopCall struct {
	Sent, Heard *Recorder
}

// Opener returns the call.AudioOpener of a.
func (a *LoopAudio) Opener() call.AudioOpener {
	return func(context.Context, call.Info) (audio.Source, audio.Sink, error) {
		c := &LoopCall{Sent: NewRecorder(), Heard: NewRecorder()}
		a.mu.Lock()
		a.calls = append(a.calls, c)
		a.mu.Unlock()
		src := audio.Paced(&tapSource{Source: audio.NewSamplesSource(a.Send, true), tap: c.Sent}, audio.Frame20ms)
		return src, c.Heard, nil
	}
}

// Last returns the latest call's audio, or nil.
func (a *LoopAudio) Last() *LoopCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.calls) == 0 {
		return nil
	}
	return a.calls[len(a.calls)-1]
}

// tapSource copies each frame it reads into tap.
type tapSource struct {
	audio.Source
	tap *Recorder
}

func (s *tapSource) Read(ctx context.Context, frame []int16) error {
	if err := s.Source.Read(ctx, frame); err != nil {
		return err
	}
	return s.tap.Write(ctx, frame)
}

// Level returns the RMS level of s in dBFS (-100 for digital silence) and
// its peak sample.
func Level(s []int16) (dbfs float64, peak int) {
	var e float64
	for _, v := range s {
		e += float64(v) * float64(v)
		peak = max(peak, int(v), -int(v))
	}
	if e == 0 {
		return -100, 0
	}
	return 20 * math.Log10(math.Sqrt(e/float64(len(s)))/32768), peak
}

// Window scores seconds of sent from sentFrom against what was heard from
// heardFrom on (the same moment, as the lengths of a LoopCall's recorders
// at one time give them), in 100 ms segments (SimilarityPer); 0 when sent
// is shorter.
func Window(sent, heard []int16, sentFrom, heardFrom int, seconds float64) float64 {
	n := int(seconds * audio.SampleRate)
	if sentFrom+n > len(sent) || heardFrom > len(heard) {
		return 0
	}
	return SimilarityPer(sent[sentFrom:sentFrom+n], heard[heardFrom:], 100*time.Millisecond)
}

// WaitWindow is Window over two recorders once they hold the stretch: it
// waits (30 s at most) until sent has seconds from sentFrom and heard a
// half second more from heardFrom, since a loaded machine may capture and
// play behind the wall clock, and fails tb when they never do.
func WaitWindow(tb testing.TB, sent, heard *Recorder, sentFrom, heardFrom int, seconds float64) float64 {
	tb.Helper()
	n := int(seconds * audio.SampleRate)
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, h := sent.Samples(), heard.Samples()
		if len(s) >= sentFrom+n && len(h) >= heardFrom+n+audio.SampleRate/2 {
			return Window(s, h, sentFrom, heardFrom, seconds)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after 30 s only %.2f s were captured from the mark and %.2f s played, want %.2f s", float64(len(s)-sentFrom)/audio.SampleRate, float64(len(h)-heardFrom)/audio.SampleRate, seconds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
