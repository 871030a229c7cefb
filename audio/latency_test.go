package audio

import (
	"context"
	"testing"
	"time"
)

// TestDeviceLatency: a speaker whose device has stopped taking audio
// reports the frames queued ahead as latency; a microphone never less than
// its device buffer, and never more than its queue.
func TestDeviceLatency(t *testing.T) {
	const d = Frame20ms
	release := make(chan struct{})
	dev := newScriptedIO(SampleRate, 2, d, func(k int, _ []int16, aborted <-chan struct{}) error {
		select { // the device plays nothing until released
		case <-release:
		case <-aborted:
		}
		return nil
	})
	sink := newDeviceSink(dev, d, quiet())
	defer sink.Close()
	defer close(release)
	if l := sink.Latency(); l != d {
		t.Errorf("idle speaker: latency %v, want one device buffer (%v)", l, d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	frame := make([]int16, SamplesPer(d))
	for range 3 {
		if err := sink.Write(ctx, frame); err != nil {
			t.Fatal(err)
		}
	}
	// The device holds at most one frame: two or three are still queued.
	if l := sink.Latency(); l < 2*d || l > 3*d {
		t.Errorf("three frames written to a stuck speaker: latency %v, want %v..%v", l, 2*d, 3*d)
	}

	src := newDeviceSource(newScriptedIO(SampleRate, 1, d, func(int, []int16, <-chan struct{}) error { return nil }), d, quiet())
	defer src.Close()
	if err := src.Read(ctx, frame); err != nil {
		t.Fatal(err)
	}
	if l := src.Latency(); l < d || l > (devQueue+2)*d {
		t.Errorf("microphone: latency %v, want %v..%v", l, d, (devQueue+2)*d)
	}
}
