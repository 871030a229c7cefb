package supernode

import (
	"os"
	"testing"
	"time"
)

// TestCPUSampler: the busy fraction is a fraction, and a core kept busy
// between two samples shows up in it.
func TestCPUSampler(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("needs /proc/stat (Linux)")
	}
	var s cpuSampler
	s.load()
	deadline := time.Now().Add(200 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	l := s.load()
	t.Logf("busy fraction %.2f over 200 ms of one spinning goroutine (%d spins)", l, x)
	if l <= 0 || l > 1 {
		t.Fatalf("busy fraction %v while a core spun: want (0, 1]", l)
	}
}
