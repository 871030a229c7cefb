package media

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
	"github.com/peercall/peercall/internal/testutil"
)

// TestCallWithAudioDevices runs a real-time call between the audio
// package's virtual devices: a paced recording as a's microphone and a WAV
// file as b's speaker, then reads the WAV back and compares it with what
// was sent (per 0.5 s segment, see segmentSimilarity).
func TestCallWithAudioDevices(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := pair(t, ctx, loopbackConfig(), loopbackConfig())
	sent := speechSeconds("alice", 2, audio.Frame20ms)
	mic := audio.Paced(audio.NewSamplesSource(sent, false), audio.Frame20ms)
	path := filepath.Join(t.TempDir(), "heard.wav")
	speaker, err := audio.NewWAVSink(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	probe := testutil.StartSchedProbe(audio.Frame20ms)
	defer probe.Stop()
	if err := startBoth(ctx, a, b, mic, audio.NewSamplesSource(nil, false), audio.NewNull(), speaker); err != nil {
		t.Fatal(err)
	}
	frames := uint64(len(sent) / audio.SamplesPer(audio.Frame20ms))
	for b.packetsReceived.Load() < frames {
		select {
		case <-ctx.Done():
			t.Fatalf("b received %d of %d packets", b.packetsReceived.Load(), frames)
		case <-b.Done():
			t.Fatalf("b ended: %v", b.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	time.Sleep(200 * time.Millisecond) // the last packets through the jitter buffer
	st := b.Stats()
	a.Close()
	b.Close()
	if err := speaker.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	heard, info, err := audio.ReadWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	sim, lag := segmentSimilarity(sent, heard)
	t.Logf("WAV of %d samples at %d Hz: similarity %.3f per segment, lag %d; %v", len(heard), info.SampleRate, sim, lag, st)
	if sim <= testaudio.Threshold {
		if probe.Stop() > testutil.StarvedAfter {
			t.Skipf("this machine is too loaded for real-time audio: an idle probe goroutine woke up %v late (the playout clock %v; similarity %.3f)", probe.Worst(), st.ClockSlip, sim)
		}
		t.Errorf("similarity %.3f <= %.2f: the WAV does not hold what was sent", sim, testaudio.Threshold)
	}
}

// TestUnpacedSourceIsHeldToRealTime: a source that returns at once (a WAV
// opened without pacing) is sent at real time, not as a flood.
func TestUnpacedSourceIsHeldToRealTime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := pair(t, ctx, loopbackConfig(), loopbackConfig())
	sent := speechSeconds("bob", 1, audio.Frame20ms)
	if err := startBoth(ctx, a, b, audio.NewSamplesSource(sent, false), audio.NewSamplesSource(nil, false), audio.NewNull(), audio.NewNull()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	// 1 s of audio at real time: after 0.4 s about 20 of 50 frames are out
	// (plus the 60 ms the sender may run ahead).
	if n := a.framesCaptured.Load(); n > 30 {
		t.Errorf("%d frames captured after 0.4 s: the unpaced source was not held to real time", n)
	}
}
