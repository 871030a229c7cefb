package dsp

import (
	"context"
	"time"

	"github.com/peercall/peercall/audio"
)

// LatencyReporter is a device that knows its latency now: for a source,
// how long ago the first sample of the frame Read just returned was
// captured, beyond the frame's own length; for a sink, how long after
// Write returns the frame's first sample is heard. Devices without it are
// taken as having none (a paced virtual device), and the echo delay
// estimator finds what is missing.
type LatencyReporter interface {
	Latency() time.Duration
}

func latency(dev any) time.Duration {
	if l, ok := dev.(LatencyReporter); ok {
		return l.Latency()
	}
	return 0
}

// CaptureSource returns src with every frame it reads processed by p,
// stamped with its capture time (the read's return less the frame and the
// device's latency). Close closes src.
func CaptureSource(src audio.Source, p Processor) audio.Source {
	return &captureSource{Source: src, p: p}
}

type captureSource struct {
	audio.Source
	p Processor
}

func (c *captureSource) Read(ctx context.Context, frame []int16) error {
	if err := c.Source.Read(ctx, frame); err != nil {
		return err
	}
	d := time.Duration(len(frame)) * time.Second / audio.SampleRate
	return c.p.ProcessCapture(frame, time.Now().Add(-d-latency(c.Source)))
}

// RenderSink returns sink with every frame it played handed to p as the
// echo reference, stamped with the time it is heard (the write's return
// plus the device's latency). Close closes sink.
func RenderSink(sink audio.Sink, p Processor) audio.Sink {
	return &renderSink{Sink: sink, p: p}
}

type renderSink struct {
	audio.Sink
	p Processor
}

func (r *renderSink) Write(ctx context.Context, frame []int16) error {
	if err := r.Sink.Write(ctx, frame); err != nil {
		return err
	}
	r.p.ProcessRender(frame, time.Now().Add(latency(r.Sink)))
	return nil
}
