package media

import (
	"context"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
)

// TestLongestGapCountsAStall: Stats.LongestGap is where the call summary's
// longest_gap_ms (the lab's failover gap) comes from. A paced call in which
// alice's packets 50..99 are dropped (a second of her audio, as a dead
// relay would lose it) shows bob a gap of at least those 50 frames, and
// alice, whose direction lost nothing, a shorter one.
func TestLongestGapCountsAStall(t *testing.T) {
	const from, to = 50, 100 // dropped sequence numbers, [from, to)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	ca, cb := loopbackConfig(), loopbackConfig()
	ca.lossHook = func(seq uint16) bool { return seq >= from && seq < to }
	a, b := pair(t, ctx, ca, cb)
	sentA, sentB := speechSeconds("alice", 3, audio.Frame20ms), speechSeconds("bob", 3, audio.Frame20ms)
	srcA := &sliceSource{samples: sentA, interval: audio.Frame20ms}
	srcB := &sliceSource{samples: sentB, interval: audio.Frame20ms}
	if err := startBoth(ctx, a, b, srcA, srcB, &sliceSink{}, &sliceSink{}); err != nil {
		t.Fatal(err)
	}
	frames := uint64(len(sentA) / audio.SamplesPer(audio.Frame20ms))
	for b.Stats().PacketsReceived < frames-(to-from) || a.Stats().PacketsReceived < frames {
		select {
		case <-ctx.Done():
			t.Fatalf("the call did not complete: bob got %d packets, alice %d, of %d", b.Stats().PacketsReceived, a.Stats().PacketsReceived, frames)
		case <-time.After(20 * time.Millisecond):
		}
	}
	gapB, gapA := b.Stats().LongestGap, a.Stats().LongestGap
	t.Logf("longest gap: bob (a second of alice's packets dropped) %v, alice %v", gapB, gapA)
	if want := (to - from - 1) * audio.Frame20ms; gapB < want {
		t.Errorf("bob's longest gap %v, want at least %v (%d packets dropped at 20 ms)", gapB, want, to-from)
	}
	if gapA <= 0 || gapA >= gapB {
		t.Errorf("alice's longest gap %v, want above 0 and below bob's %v (nothing of bob's was dropped)", gapA, gapB)
	}
}

// TestLongestGapCountsAStallToTheEnd: a stall that lasts until the stats
// are read (the call ended without its audio coming back) counts too, so
// a failover that never happened shows as the whole wait, not as the
// longest gap before it.
func TestLongestGapCountsAStallToTheEnd(t *testing.T) {
	const from = 50 // alice's packets from here on are dropped: 100 frames, 2 s
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	ca, cb := loopbackConfig(), loopbackConfig()
	ca.lossHook = func(seq uint16) bool { return seq >= from }
	a, b := pair(t, ctx, ca, cb)
	srcA := &sliceSource{samples: speechSeconds("alice", 3, audio.Frame20ms), interval: audio.Frame20ms}
	srcB := &sliceSource{samples: speechSeconds("bob", 3, audio.Frame20ms), interval: audio.Frame20ms}
	if err := startBoth(ctx, a, b, srcA, srcB, &sliceSink{}, &sliceSink{}); err != nil {
		t.Fatal(err)
	}
	for !srcA.ended.Load() {
		select {
		case <-ctx.Done():
			t.Fatal("alice's source never ended")
		case <-time.After(20 * time.Millisecond):
		}
	}
	got := b.Stats().LongestGap
	t.Logf("bob's longest gap with alice's last 2 s dropped: %v", got)
	if want := 1900 * time.Millisecond; got < want {
		t.Errorf("bob's longest gap %v, want at least %v: the stall still open when the stats were read", got, want)
	}
}
