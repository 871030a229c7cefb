package testutil

import (
	"runtime"
	"testing"
	"time"
)

// A probe whose goroutine cannot run (GOMAXPROCS 1, the only P spinning)
// reports the stall; an idle one does not.
func TestSchedProbe(t *testing.T) {
	p := StartSchedProbe(5 * time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	if w := p.Worst(); w > StarvedAfter {
		t.Logf("idle probe already %v late: this machine is loaded", w)
	}

	old := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(old)
	deadline := time.Now().Add(2 * StarvedAfter)
	for time.Now().Before(deadline) {
		// Spin without yielding. Go's async preemption lets the probe in
		// after about 10 ms, so it must report at least one period late.
	}
	w := p.Stop()
	t.Logf("worst lateness %v", w)
	if w < 5*time.Millisecond {
		t.Fatalf("probe reports %v late after a %v stall of the only P; want at least one 5 ms period", w, 2*StarvedAfter)
	}
	if p.Stop() != w {
		t.Fatal("a second Stop changed the result")
	}
}
