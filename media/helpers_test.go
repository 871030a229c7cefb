package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
)

// These tiny in-test devices stand beside the audio package's virtual
// devices (used in devices_test.go) because the tests need what a real
// device does not offer: failure after N frames, a hook per frame with its
// wall-clock time (mouth-to-ear), and a record of clock lateness.

// sliceSource plays samples as a microphone, one frame per tick of
// interval (0: unpaced). After the samples it returns io.EOF, or errAfter
// when set (failAfter frames in).
type sliceSource struct {
	samples   []int16
	pos       int
	interval  time.Duration
	next      time.Time
	failAfter int // >0: return errDevice after this many frames
	frames    int
	// onFrame, when set, is called with each frame's capture time.
	onFrame func(i int, at time.Time)
	// maxLate is the worst lateness of a paced wake-up (machine load), ns.
	maxLate atomic.Int64
	// ended is set once Read has returned io.EOF.
	ended atomic.Bool
	// endC (see done) is closed at the same time, so that a benchmark
	// can wait for the end without a polling loop of its own.
	endInit sync.Once
	endC    chan struct{}
}

// done is closed once Read has returned io.EOF.
func (s *sliceSource) done() <-chan struct{} {
	s.endInit.Do(func() { s.endC = make(chan struct{}) })
	return s.endC
}

var errDeviceGone = errors.New("device unplugged")

func (s *sliceSource) Read(ctx context.Context, frame []int16) error {
	if s.failAfter > 0 && s.frames >= s.failAfter {
		return errDeviceGone
	}
	if s.pos+len(frame) > len(s.samples) {
		if !s.ended.Swap(true) {
			s.done()
			close(s.endC)
		}
		return io.EOF
	}
	if s.interval > 0 {
		if s.next.IsZero() {
			s.next = time.Now()
		}
		s.next = s.next.Add(s.interval)
		t := time.NewTimer(time.Until(s.next))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if late := int64(time.Since(s.next)); late > s.maxLate.Load() {
			s.maxLate.Store(late)
		}
	}
	copy(frame, s.samples[s.pos:])
	if s.onFrame != nil {
		s.onFrame(s.frames, time.Now())
	}
	s.pos += len(frame)
	s.frames++
	return nil
}

func (s *sliceSource) Close() error { return nil }

// sliceSink records what it is given (unpaced: the session's playout
// clock paces it). It fails after failAfter frames when set. With discard
// set it only counts frames, as a null device does (the CPU benchmark must
// not measure a growing recording).
type sliceSink struct {
	mu        sync.Mutex
	samples   []int16
	frames    int
	failAfter int
	discard   bool
	onFrame   func(frame []int16, at time.Time)
}

func (s *sliceSink) Write(ctx context.Context, frame []int16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAfter > 0 && s.frames >= s.failAfter {
		return errDeviceGone
	}
	if s.onFrame != nil {
		s.onFrame(frame, time.Now())
	}
	if !s.discard {
		s.samples = append(s.samples, frame...)
	}
	s.frames++
	return nil
}

func (s *sliceSink) Close() error { return nil }

func (s *sliceSink) got() []int16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.samples...)
}

// loopbackConfig is a session config that gathers only 127.0.0.1.
func loopbackConfig() Config {
	return Config{ListenIPs: []string{"127.0.0.1"}}
}

// pair creates two sessions and runs the one-shot SDP exchange.
func pair(t testing.TB, ctx context.Context, ca, cb Config) (a, b *Session) {
	t.Helper()
	a, err := New(ctx, ca)
	if err != nil {
		t.Fatal(err)
	}
	b, err = New(ctx, cb)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	if err := negotiate(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func negotiate(ctx context.Context, a, b *Session) error {
	offer, err := a.CreateOffer(ctx)
	if err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	answer, err := b.Accept(ctx, offer)
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	return a.SetAnswer(answer)
}

// startBoth starts both sessions concurrently (each waits for the
// connection).
func startBoth(ctx context.Context, a, b *Session, srcA, srcB audio.Source, sinkA, sinkB audio.Sink) error {
	var g errgroup.Group
	g.Go(func() error { return a.Start(ctx, srcA, sinkA) })
	g.Go(func() error { return b.Start(ctx, srcB, sinkB) })
	return g.Wait()
}

// segmentSeconds is the length of the pieces segmentSimilarity compares.
const segmentSeconds = 0.5

// segmentSimilarity compares sent and heard piece by piece: each 0.5 s
// segment of sent that carries speech is found in heard at its own best
// lag (up to 1 s after its position) with testaudio.Similarity, and the
// median score is returned. An adaptive jitter buffer legitimately
// stretches time when it underruns (on this shared 2-core machine the
// scheduler alone causes that under load), which shifts everything after
// by a frame; a single lag over the whole call would score that adaptation
// as corruption, and the median ignores the few segments that hold a
// stretch. It also returns the lag of the first segment.
func segmentSimilarity(sent, heard []int16) (float64, int) {
	seg := int(segmentSeconds * audio.SampleRate)
	var total float64
	for _, v := range sent {
		total += float64(v) * float64(v)
	}
	meanEnergy := total / float64(len(sent)) * float64(seg)
	var scores []float64
	firstLag := -1
	for off := 0; off+seg <= len(sent); off += seg {
		var e float64
		for _, v := range sent[off : off+seg] {
			e += float64(v) * float64(v)
		}
		if e < 0.1*meanEnergy || off >= len(heard) {
			continue // a pause: nothing to compare
		}
		sim, lag := testaudio.Similarity(sent[off:off+seg], heard[off:], audio.SampleRate)
		if firstLag < 0 {
			firstLag = lag
		}
		scores = append(scores, sim)
	}
	if len(scores) == 0 {
		return 0, 0
	}
	slices.Sort(scores)
	return scores[len(scores)/2], firstLag
}
