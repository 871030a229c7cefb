package netlab

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestImpairLoss sends a bounded burst one way and counts what arrives at an
// impaired machine.
func TestImpairLoss(t *testing.T) {
	lab := New(t)
	inet := lab.Internet()
	a := lab.Host("a", inet)
	b := lab.Host("b", inet)
	rx := listenUDP(t, b, 9000)
	tx := listenUDP(t, a, 0)
	const sent = 400

	tests := []struct {
		loss     float64
		min, max int // received, inclusive; 0.5 has a 1e-9 chance outside
	}{
		{1, 0, 0},
		{0.5, 140, 260},
		{0, sent, sent},
	}
	for _, tt := range tests {
		if err := b.Impair(Impairment{Loss: tt.loss}); err != nil {
			t.Fatal(err)
		}
		got := burst(t, tx, rx, ap(b.Addr(), 9000), sent)
		t.Logf("loss %v: %d of %d arrived", tt.loss, got, sent)
		if got < tt.min || got > tt.max {
			t.Errorf("loss %v: %d of %d datagrams arrived, want %d to %d", tt.loss, got, sent, tt.min, tt.max)
		}
	}
}

// burst sends n numbered datagrams from tx to `to` and counts the distinct
// ones rx gets; rx reads while tx sends, until 300 ms pass without any.
func burst(t *testing.T, tx, rx *net.UDPConn, to netip.AddrPort, n int) int {
	t.Helper()
	return burstSize(t, tx, rx, to, n, 2)
}

// burstSize is burst with datagrams of size bytes (at least 2).
func burstSize(t *testing.T, tx, rx *net.UDPConn, to netip.AddrPort, n, size int) int {
	t.Helper()
	got := make(chan int)
	go func() {
		seen := map[int]bool{}
		buf := make([]byte, size+1)
		for len(seen) < n {
			_ = rx.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			m, _, err := rx.ReadFromUDPAddrPort(buf)
			if err != nil {
				break
			}
			if m == size {
				seen[int(buf[0])<<8|int(buf[1])] = true
			}
		}
		got <- len(seen)
	}()
	for i := 0; i < n; i++ {
		msg := make([]byte, size)
		msg[0], msg[1] = byte(i>>8), byte(i)
		if _, err := tx.WriteToUDPAddrPort(msg, to); err != nil {
			t.Error(err)
			break
		}
		if i%20 == 19 {
			time.Sleep(time.Millisecond) // pace, so only Impair drops
		}
	}
	return <-got
}

// TestImpairDelay checks that netem delay shows in the round trip; without
// sch_netem in the kernel it checks that Impair says so.
func TestImpairDelay(t *testing.T) {
	lab := New(t)
	inet := lab.Internet()
	a := lab.Host("a", inet)
	b := lab.Host("b", inet)
	echo(t, b, []int{7000}, nil)
	err := a.Impair(Impairment{Delay: 50 * time.Millisecond})
	if errors.Is(err, ErrNoNetem) {
		t.Skipf("delay not tested: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	c := listenUDP(t, a, 0)
	start := time.Now()
	if _, err := askUDP(c, ap(b.Addr(), 7000), answerWait); err != nil {
		t.Fatal(err)
	}
	// A lower bound only: the delay must be there; how fast the rest is
	// is no business of a test.
	if rtt := time.Since(start); rtt < 100*time.Millisecond {
		t.Errorf("round trip %v with 50ms delay each way, want at least 100ms", rtt)
	}
}

// TestImpairRejectsNonsense checks Impair's argument check.
func TestImpairRejectsNonsense(t *testing.T) {
	lab := New(t)
	a := lab.Host("a", lab.Internet())
	for _, imp := range []Impairment{{Loss: -0.1}, {Loss: 1.5}, {Delay: -time.Second}, {Delay: time.Millisecond, Jitter: time.Second}, {Rate: -1}, {Rate: 100}} {
		if err := a.Impair(imp); err == nil {
			t.Errorf("Impair(%+v) accepted", imp)
		}
	}
}

// TestImpairRate sends a burst far beyond a narrow link's rate and checks
// that the link drops what does not fit, then that lifting the limit lets
// the same burst through.
func TestImpairRate(t *testing.T) {
	lab := New(t)
	inet := lab.Internet()
	a := lab.Host("a", inet)
	b := lab.Host("b", inet)
	rx := listenUDP(t, b, 9000)
	tx := listenUDP(t, a, 0)
	const sent = 300

	tests := []struct {
		rate     int64
		min, max int
	}{
		// 300 datagrams of ~1 KB sent in well under 50 ms; 200 kbit/s
		// carries about 2.5 KB in 50 ms of queue plus a 1.6 KB burst.
		{200_000, 1, 60},
		{0, sent, sent},
	}
	for _, tt := range tests {
		if err := a.Impair(Impairment{Rate: tt.rate}); err != nil {
			t.Fatal(err)
		}
		got := burstSize(t, tx, rx, ap(b.Addr(), 9000), sent, 1000)
		t.Logf("rate %d bit/s: %d of %d arrived", tt.rate, got, sent)
		if got < tt.min || got > tt.max {
			t.Errorf("rate %d bit/s: %d of %d datagrams arrived, want %d to %d", tt.rate, got, sent, tt.min, tt.max)
		}
	}
}
