package events

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestBus: every subscriber gets the events after it subscribed, in
// order and numbered without gaps; one that falls behind is cut off with
// ErrTooSlow while the others go on; Close ends the rest with ErrClosed.
func TestBus(t *testing.T) {
	b := New(func() time.Time { return time.Unix(100, 0) })
	b.Publish(KindNode, "before")
	fast := b.Subscribe(16)
	slow := b.Subscribe(2)
	for i := range 5 {
		b.Publish(KindPresence, i)
	}
	if n := b.Subscribers(); n != 1 {
		t.Errorf("subscribers %d after the slow one overflowed, want 1", n)
	}
	var got []Event
	for range 5 {
		got = append(got, <-fast.C())
	}
	for i, ev := range got {
		if ev.Seq != uint64(i+2) || ev.Data != i || ev.Kind != KindPresence || !ev.Time.Equal(time.Unix(100, 0)) {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
	n := 0
	for range slow.C() {
		n++
	}
	if n != 2 || !errors.Is(slow.Err(), ErrTooSlow) {
		t.Errorf("slow subscriber read %d events, err %v; want its 2 buffered and ErrTooSlow", n, slow.Err())
	}
	b.Close()
	if _, ok := <-fast.C(); ok || !errors.Is(fast.Err(), ErrClosed) {
		t.Errorf("after Close: channel open %v, err %v", ok, fast.Err())
	}
	late := b.Subscribe(1)
	if _, ok := <-late.C(); ok || !errors.Is(late.Err(), ErrClosed) {
		t.Errorf("subscribe after Close: err %v", late.Err())
	}
	b.Publish(KindNode, "after") // goes nowhere, does not panic
}

// TestSubscriptionClose: a subscriber that leaves gets no more events and
// its Err is nil; publishing from many goroutines is safe.
func TestSubscriptionClose(t *testing.T) {
	b := New(nil)
	s := b.Subscribe(1000)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				b.Publish(KindCall, nil)
			}
		})
	}
	wg.Wait()
	s.Close()
	s.Close()
	n := 0
	var last uint64
	for ev := range s.C() {
		if ev.Seq <= last {
			t.Fatalf("seq %d after %d", ev.Seq, last)
		}
		last = ev.Seq
		n++
	}
	if n != 400 || s.Err() != nil {
		t.Errorf("read %d events, err %v; want 400, nil", n, s.Err())
	}
}
