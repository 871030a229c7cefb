package relay

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"golang.org/x/sync/errgroup"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
	"github.com/peercall/peercall/internal/testutil"
	"github.com/peercall/peercall/media"
)

// pacedSource plays samples as a microphone, one frame per frame time,
// then reports io.EOF.
type pacedSource struct {
	samples []int16
	pos     int
	next    time.Time
	maxLate time.Duration // the worst lateness of a wake-up (machine load)
}

func (s *pacedSource) Read(ctx context.Context, frame []int16) error {
	if s.pos+len(frame) > len(s.samples) {
		return io.EOF
	}
	if s.next.IsZero() {
		s.next = time.Now()
	}
	s.next = s.next.Add(audio.Frame20ms)
	t := time.NewTimer(time.Until(s.next))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	s.maxLate = max(s.maxLate, time.Since(s.next))
	copy(frame, s.samples[s.pos:])
	s.pos += len(frame)
	return nil
}

func (s *pacedSource) Close() error { return nil }

// recorder is a sink that keeps what it is given.
type recorder struct {
	mu      sync.Mutex
	samples []int16
}

func (r *recorder) Write(_ context.Context, frame []int16) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, frame...)
	return nil
}

func (r *recorder) Close() error { return nil }

func (r *recorder) got() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.samples)
}

// medianSimilarity scores heard against sent in 0.5 s pieces (each at its
// own lag, so a jitter-buffer stretch on this shared machine does not
// count as corruption) and returns the median over pieces with speech.
func medianSimilarity(sent, heard []int16) float64 {
	seg := audio.SampleRate / 2
	var total float64
	for _, v := range sent {
		total += float64(v) * float64(v)
	}
	mean := total / float64(len(sent)) * float64(seg)
	var scores []float64
	for off := 0; off+seg <= len(sent) && off < len(heard); off += seg {
		var e float64
		for _, v := range sent[off : off+seg] {
			e += float64(v) * float64(v)
		}
		if e < 0.1*mean {
			continue
		}
		s, _ := testaudio.Similarity(sent[off:off+seg], heard[off:], audio.SampleRate)
		scores = append(scores, s)
	}
	if len(scores) == 0 {
		return 0
	}
	slices.Sort(scores)
	return scores[len(scores)/2]
}

// TestCallThroughRelay places a real call between two media sessions that
// may only use relay candidates (RelayOnly), with ICE servers from
// IssueCredentials, so every packet crosses this TURN server; bob must
// hear what alice said (one way: bob's microphone is silent, which halves
// the CPU the call needs on this shared machine). On a machine so loaded
// that a 20 ms clock wakes up more than 100 ms late no real-time audio can
// work, and the test then skips saying so rather than fail on the
// machine's account.
func TestCallThroughRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3 s real-time call")
	}
	w := newWorld(t)
	r := startRelay(t, w, testConfig(), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	newSession := func(name string) *media.Session {
		creds := credsFor(t, w, r, name)
		s, err := media.New(ctx, media.Config{
			ICEServers: []webrtc.ICEServer{creds.ICEServer()},
			RelayOnly:  true,
			ListenIPs:  []string{"127.0.0.1"},
			Logger:     quietLogger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := newSession("alice"), newSession("bob")
	offer, err := a.CreateOffer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(offer, "typ host") || !strings.Contains(offer, "typ relay") {
		t.Fatalf("a relay-only offer must carry relay candidates only:\n%s", offer)
	}
	answer, err := b.Accept(ctx, offer)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetAnswer(answer); err != nil {
		t.Fatal(err)
	}

	const seconds = 3
	speech := func(name string) []int16 {
		s := testaudio.MustSpeech(name)
		n := seconds * audio.SampleRate
		return s[:n-n%audio.SamplesPer(audio.Frame20ms)]
	}
	sentA := speech("alice")
	heardA, heardB := &recorder{}, &recorder{}
	srcA, srcB := &pacedSource{samples: sentA}, &pacedSource{}
	probe := testutil.StartSchedProbe(audio.Frame20ms)
	defer probe.Stop()
	var g errgroup.Group
	g.Go(func() error { return a.Start(ctx, srcA, heardA) })
	g.Go(func() error { return b.Start(ctx, srcB, heardB) })
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	margin := audio.SampleRate / 4
	for len(heardB.got()) < len(sentA)+margin {
		select {
		case <-ctx.Done():
			t.Fatalf("call did not complete: a heard %d samples, b heard %d", len(heardA.got()), len(heardB.got()))
		case <-time.After(20 * time.Millisecond):
		}
	}
	for _, s := range []*media.Session{a, b} {
		route := s.Route()
		if route.Kind != "relay" || !strings.HasPrefix(route.RelayAddr, "127.0.0.1:") {
			t.Fatalf("route %v, want relay through the test's TURN server", route)
		}
	}
	st := r.Stats()
	stA, stB := a.Stats(), b.Stats()
	t.Logf("relay: %d sessions, %d bytes in %d packets", st.Sessions, st.BytesRelayed, st.PacketsRelayed)
	t.Logf("alice: %v", stA)
	t.Logf("bob: %v", stB)
	if st.Sessions < 2 || st.BytesRelayed < seconds*50*40 {
		t.Fatalf("relay stats %+v: want both allocations and the call's packets", st)
	}
	heard := heardB.got()
	sim := medianSimilarity(sentA, heard)
	whole, lag := testaudio.Similarity(sentA, heard, 2*audio.SampleRate)
	t.Logf("alice -> bob through the relay: similarity %.3f per 0.5 s piece, %.3f whole call at lag %d ms", sim, whole, lag*1000/audio.SampleRate)
	if sim < testaudio.Threshold {
		if probe.Stop() > testutil.StarvedAfter {
			t.Skipf("this machine is too loaded for real-time audio: an idle probe goroutine woke up %v late (the call's clocks %v; similarity %.3f)", probe.Worst(), max(srcA.maxLate, stA.ClockSlip, stB.ClockSlip), sim)
		}
		t.Errorf("similarity %.3f below %.2f: the relayed audio is not what alice said", sim, testaudio.Threshold)
	}
	a.Close()
	b.Close()
}
