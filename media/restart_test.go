package media

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
)

var ufragRE = regexp.MustCompile(`a=ice-ufrag:(\S+)`)

// TestRestartICE: mid-call, the caller restarts ICE (new credentials, as
// after a network change) with one more offer/answer, and audio keeps
// flowing.
func TestRestartICE(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := pair(t, ctx, loopbackConfig(), loopbackConfig())
	first := a.pc.LocalDescription().SDP
	samples := speechSeconds("alice", 3, audio.Frame20ms)
	src := &sliceSource{samples: samples, interval: audio.Frame20ms}
	if err := startBoth(ctx, a, b, src, &sliceSource{}, &sliceSink{}, &sliceSink{}); err != nil {
		t.Fatal(err)
	}
	waitPackets := func(n uint64) {
		for b.packetsReceived.Load() < n {
			select {
			case <-ctx.Done():
				t.Fatalf("b received %d packets, want %d", b.packetsReceived.Load(), n)
			case <-a.Done():
				t.Fatalf("a ended: %v", a.Err())
			case <-b.Done():
				t.Fatalf("b ended: %v", b.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	waitPackets(10)
	offer, err := a.RestartICEOffer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u0, u1 := ufragRE.FindStringSubmatch(first), ufragRE.FindStringSubmatch(offer); u0 == nil || u1 == nil || u0[1] == u1[1] {
		t.Fatalf("restart offer keeps the ICE credentials (%v, %v)", u0, u1)
	}
	answer, err := b.Accept(ctx, offer)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetAnswer(answer); err != nil {
		t.Fatal(err)
	}
	after := b.packetsReceived.Load()
	waitPackets(after + 25) // half a second more audio after the restart
	t.Logf("after restart: %v", b.Stats())
}
