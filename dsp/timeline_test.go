package dsp

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
)

func TestPassThrough(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	x := testaudio.MustSpeech("bob")[:960]
	y := slices.Clone(x)
	c.ProcessRender(make([]int16, 960), time.Now())
	if err := c.ProcessCapture(y, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x, y) {
		t.Error("a chain with no stage changed the audio")
	}
}

func TestTimeline(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stamps  []int64 // positions the timestamps give, one 480-sample frame each
		want    []int64
		resyncs uint64
	}{
		{"exact", []int64{0, 480, 960}, []int64{0, 480, 960}, 0},
		{"noise is ignored", []int64{0, 500, 940, 1450}, []int64{0, 480, 960, 1440}, 0},
		{"drift is slewed", []int64{0, 580, 1060, 1540}, []int64{0, 481, 962, 1443}, 0},
		{"a jump is followed", []int64{0, 480, 5000, 5480}, []int64{0, 480, 5000, 5480}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tl timeline
			for i, s := range tc.stamps {
				if got := tl.place(s, 480); got != tc.want[i] {
					t.Errorf("frame %d stamped %d placed at %d, want %d", i, s, got, tc.want[i])
				}
			}
			if tl.resyncs != tc.resyncs {
				t.Errorf("%d resyncs, want %d", tl.resyncs, tc.resyncs)
			}
		})
	}
}

func TestRing(t *testing.T) {
	r := newRing()
	r.write(100, []int16{1, 2, 3})
	r.write(105, []int16{4}) // a gap of two samples
	got := make([]int16, 8)
	r.read(99, got)
	if want := []int16{0, 1, 2, 3, 0, 0, 4, 0}; !slices.Equal(got, want) {
		t.Errorf("read %v, want %v (silence where nothing was played)", got, want)
	}
	r.write(100+ringSize, []int16{9}) // pushes the old samples out
	r.read(100, got[:1])
	if got[0] != 0 {
		t.Errorf("a sample older than the ring reads %d, want 0", got[0])
	}
}

type stampProcessor struct{ captured, played time.Time }

func (p *stampProcessor) ProcessCapture(_ []int16, at time.Time) error { p.captured = at; return nil }
func (p *stampProcessor) ProcessRender(_ []int16, at time.Time)        { p.played = at }

type latentSource struct{ audio.Source }

func (latentSource) Latency() time.Duration { return 30 * time.Millisecond }

type latentSink struct{ audio.Sink }

func (latentSink) Latency() time.Duration { return 50 * time.Millisecond }

// TestDeviceStamps: frames are stamped with when they were captured and
// when they will be heard, from the devices' latency when they report it.
func TestDeviceStamps(t *testing.T) {
	for _, tc := range []struct {
		name             string
		src              audio.Source
		sink             audio.Sink
		capture, playout time.Duration // expected offsets from the call's return
	}{
		{"virtual devices", audio.NewSilence(), audio.NewNull(), -20 * time.Millisecond, 0},
		{"sound cards", latentSource{audio.NewSilence()}, latentSink{audio.NewNull()}, -50 * time.Millisecond, 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &stampProcessor{}
			src, sink := CaptureSource(tc.src, p), RenderSink(tc.sink, p)
			frame := make([]int16, audio.SamplesPer(audio.Frame20ms))
			if err := src.Read(context.Background(), frame); err != nil {
				t.Fatal(err)
			}
			after := time.Now()
			if d := after.Add(tc.capture).Sub(p.captured); d < 0 || d > 10*time.Millisecond {
				t.Errorf("captured at %v before the read returned, want %v", after.Sub(p.captured), -tc.capture)
			}
			if err := sink.Write(context.Background(), frame); err != nil {
				t.Fatal(err)
			}
			after = time.Now()
			if d := after.Add(tc.playout).Sub(p.played); d < 0 || d > 10*time.Millisecond {
				t.Errorf("heard %v after the write returned, want %v", p.played.Sub(after), tc.playout)
			}
		})
	}
}

// TestRingAgainstModel writes frames across the ring's wrap-around, with
// gaps, overlaps, stale and oversized writes, and reads them back against
// a plain map of position to sample (the ring copies runs, not samples).
func TestRingAgainstModel(t *testing.T) {
	r := newRing()
	model := map[int64]int16{}
	var start, end int64
	started := false
	rnd := rand.New(rand.NewPCG(1, 2))
	p := int64(ringSize - 700)
	for step := range 400 {
		n := 1 + rnd.IntN(1200)
		if step == 200 {
			n = ringSize + 300 // larger than the ring
		}
		switch rnd.IntN(6) {
		case 0:
			p += int64(rnd.IntN(3000)) // a gap
		case 1:
			p -= int64(rnd.IntN(500)) // an overlap
		case 2:
			p -= ringSize + int64(rnd.IntN(100)) // older than the ring
		}
		x := make([]int16, n)
		for i := range x {
			x[i] = int16(rnd.IntN(60000) - 30000)
		}
		r.write(p, x)
		// The model: what the ring promises to keep.
		if !started {
			start, end, started = p, p, true
		}
		if p+int64(n) > start {
			for i, v := range x {
				if q := p + int64(i); q >= start {
					model[q] = v
				}
			}
			if p > end {
				for q := end; q < p; q++ {
					model[q] = 0
				}
			}
			end = max(end, p+int64(n))
			start = max(start, end-ringSize)
		}
		from := end - int64(rnd.IntN(ringSize+2000))
		got := make([]int16, 1+rnd.IntN(2000))
		r.read(from, got)
		for i, v := range got {
			q := from + int64(i)
			want := int16(0)
			if q >= start && q < end {
				want = model[q]
			}
			if v != want {
				t.Fatalf("step %d: position %d reads %d, want %d (ring holds [%d, %d))", step, q, v, want, start, end)
			}
		}
		if p+int64(n) > start {
			p += int64(n)
		} else {
			p = end
		}
	}
}
