package callharness

import (
	"context"
	"sync"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/internal/testaudio"
)

// Speech returns the first seconds of a test recording ("alice" or "bob").
func Speech(name string, seconds float64) []int16 {
	s := testaudio.MustSpeech(name)
	n := int(seconds * audio.SampleRate)
	if n > len(s) {
		n = len(s)
	}
	return s[:n]
}

// Recorder is a sink that keeps what it is given, and notes when the first
// frame arrived.
type Recorder struct {
	mu      sync.Mutex
	samples []int16
	first   time.Time
	firstCh chan struct{}
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{firstCh: make(chan struct{})} }

// Write implements audio.Sink.
func (r *Recorder) Write(_ context.Context, frame []int16) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first.IsZero() {
		r.first = time.Now()
		close(r.firstCh)
	}
	r.samples = append(r.samples, frame...)
	return nil
}

// Close implements audio.Sink.
func (r *Recorder) Close() error { return nil }

// Samples returns a copy of what was played.
func (r *Recorder) Samples() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int16(nil), r.samples...)
}

// First is closed when the first decoded frame was played.
func (r *Recorder) First() <-chan struct{} { return r.firstCh }

// FirstAt returns when the first frame was played (zero if none).
func (r *Recorder) FirstAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first
}

// Audio is a node's virtual audio: each call plays Send (paced in real
// time, then silence) and records what is heard into a new Recorder.
type Audio struct {
	Send []int16

	mu   sync.Mutex
	recs []*Recorder
}

// Opener returns the call.AudioOpener of a.
func (a *Audio) Opener() call.AudioOpener {
	return func(context.Context, call.Info) (audio.Source, audio.Sink, error) {
		rec := NewRecorder()
		a.mu.Lock()
		a.recs = append(a.recs, rec)
		a.mu.Unlock()
		src := audio.Paced(&thenSilence{Source: audio.NewSamplesSource(a.Send, false)}, audio.Frame20ms)
		return src, rec, nil
	}
}

// Recorders returns the recorders of the calls so far, oldest first.
func (a *Audio) Recorders() []*Recorder {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*Recorder(nil), a.recs...)
}

// Last returns the recorder of the latest call, or nil.
func (a *Audio) Last() *Recorder {
	r := a.Recorders()
	if len(r) == 0 {
		return nil
	}
	return r[len(r)-1]
}

// thenSilence plays its source, then zeros instead of io.EOF, so that the
// media keeps flowing (a call that goes silent is still a call).
type thenSilence struct {
	audio.Source
	done bool
}

func (s *thenSilence) Read(ctx context.Context, frame []int16) error {
	if !s.done {
		if err := s.Source.Read(ctx, frame); err == nil {
			return nil
		} else if ctx.Err() != nil {
			return err
		}
		s.done = true
	}
	clear(frame)
	return ctx.Err()
}

// SegmentSimilarity scores heard against sent per 0.5 s segment, weighted
// by the segment's energy (pauses skipped): an adaptive jitter buffer may
// stretch time by a frame now and then, which a single lag over the whole
// call would count as corruption. Compare it with testaudio.Threshold.
func SegmentSimilarity(sent, heard []int16) float64 {
	return SimilarityPer(sent, heard, 500*time.Millisecond)
}

// SimilarityPer is SegmentSimilarity with segments of seg: each segment
// of sent is found in heard at its own lag (searched from a quarter second
// before its place to a second after), and the segments' scores are
// averaged weighted by their energy. A jitter-buffer stall or shrink (a
// frame of concealment, or a frame skipped, and a 20 ms shift of all that
// follows) spoils only the segment it falls in: the shorter the segments,
// the less a loaded machine's stalls count against the audio itself.
func SimilarityPer(sent, heard []int16, seg time.Duration) float64 {
	n := audio.SamplesPer(seg)
	var total float64
	for _, v := range sent {
		total += float64(v) * float64(v)
	}
	if len(sent) == 0 || n <= 0 {
		return 0
	}
	meanEnergy := total / float64(len(sent)) * float64(n)
	early := audio.SampleRate / 4
	var sum, weight float64
	for off := 0; off+n <= len(sent); off += n {
		var e float64
		for _, v := range sent[off : off+n] {
			e += float64(v) * float64(v)
		}
		if e < 0.1*meanEnergy || off >= len(heard) {
			continue
		}
		// Look from a quarter second earlier (the first packets may be
		// lost while the receiving side finishes its own start) to a
		// second later.
		from := max(0, off-early)
		to := min(len(heard), from+n+audio.SampleRate)
		sim, _ := testaudio.Similarity(sent[off:off+n], heard[from:to], audio.SampleRate)
		sum += sim * e
		weight += e
	}
	if weight == 0 {
		return 0
	}
	return sum / weight
}
