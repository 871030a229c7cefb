package netlab

import (
	"encoding/binary"
	"math"
	"net"
	"sync"
	"testing"
	"time"
)

// TestLinkImposes measures what the impairment stage of a shaped link
// imposes on a stream of small UDP datagrams (one every 2 ms, echoed
// back), against the profile it is given: the one-way delay and its
// jitter (both ends run in this process, on one clock), the round trip,
// reordering, and loss. Every datagram the link's shapers lost is lost
// and no other (LinkStats), the loss rate is the profile's within
// sampling error, and the delay and jitter at least the profile's, with
// room above for a loaded machine. "two halves" puts Profile.Half on both ends, as the
// scenarios do: the path between them is the whole profile.
func TestLinkImposes(t *testing.T) {
	const n, spacing = 2000, 2 * time.Millisecond
	tests := []struct {
		name  string
		p     Profile
		halve bool // both ends on p.Half(), else only the sender on p
	}{
		{"lan", Profiles["lan"], false},
		{"dsl", Profiles["dsl"], false},
		{"wan", Profiles["wan"], false},
		{"bad-wifi", Profiles["bad-wifi"], false},
		{"wan two halves", Profiles["wan"], true},
	}
	lab := New(t)
	inet := lab.Internet()
	for i, tc := range tests {
		var a, b *Host
		name := string(rune('a' + i))
		if tc.halve {
			a = lab.Host("tx-"+name, inet, Link(tc.p.Half()))
			b = lab.Host("rx-"+name, inet, Link(tc.p.Half()))
		} else {
			a = lab.Host("tx-"+name, inet, Link(tc.p))
			b = lab.Host("rx-"+name, inet)
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := measureLink(t, a, b, n, spacing)
			p := tc.p
			// The mean and deviation of max(Delay + N(0, Jitter), 0): the
			// Shaper clips at zero (each half on its own when halved).
			wantMean, wantSD := clippedNormal(p.Delay, p.Jitter)
			if tc.halve {
				hm, hs := clippedNormal(p.Half().Delay, p.Half().Jitter)
				wantMean, wantSD = 2*hm, time.Duration(math.Sqrt2*float64(hs))
			}
			upA, downA, _ := a.LinkStats()
			upB, downB, _ := b.LinkStats() // zero when b is not shaped
			t.Logf("%s: one way %v ± %v (want %v ± %v), rtt %v, reordered %.2f%%, lost one way %d/%d (%.2f%%, want %.2f%%), echoes lost %d; stage a up %+v down %+v",
				tc.name, m.mean.Round(10*time.Microsecond), m.sd.Round(10*time.Microsecond), wantMean.Round(10*time.Microsecond), wantSD.Round(10*time.Microsecond),
				m.rtt.Round(10*time.Microsecond), 100*float64(m.reordered)/float64(m.got), n-m.got, n, 100*float64(n-m.got)/n, 100*p.Loss, m.got-m.echoes, upA, downA)

			// Loss: exactly what the shapers decided, nothing else.
			if upA.Overflow+downA.Overflow+upB.Overflow+downB.Overflow > 0 {
				t.Errorf("the stage's queue overflowed: %+v %+v %+v %+v", upA, downA, upB, downB)
			}
			// The shapers also see the odd datagram that is not the test's
			// (Shaped beyond the test's datagrams that reached that shaper),
			// and may lose it: the test's losses are the shapers' less at
			// most those. first and second are the two shapers on the way
			// (second unused, all zero, when the far host is not shaped).
			lossMatches := func(what string, missing, sent int, first, second LinkStats) {
				stray := max(int(first.Shaped)-sent, 0)
				if second.Shaped > 0 {
					stray += max(int(second.Shaped)-(sent-int(first.Lost)), 0)
				}
				lost := int(first.Lost + second.Lost)
				if missing > lost || missing < lost-stray {
					t.Errorf("%d of %d %s lost, but the shapers lost %d (of which up to %d not the test's): the link loses what the stage does not decide", missing, sent, what, lost, stray)
				}
			}
			lossMatches("datagrams", n-m.got, n, upA, downB)
			lossMatches("echoes", m.got-m.echoes, m.got, upB, downA)
			rate := float64(n-m.got) / n
			if tol := 4*math.Sqrt(p.Loss*(1-p.Loss)*p.MeanBurst*2/n) + 1e-9; math.Abs(rate-p.Loss) > tol {
				t.Errorf("loss %.4f, want %.4f ± %.4f", rate, p.Loss, tol)
			}
			// Delay and jitter: never less than the profile's (the stage
			// holds each datagram at least its delay); what a loaded
			// machine adds on top (the stage runs in this process, under
			// -race with other tests beside it: up to tens of ms seen at a
			// load of 20 on 2 cores) is allowed generously, so the upper
			// bounds only catch a stage that applies far more than asked.
			low, high := wantMean-wantMean/10-time.Millisecond, wantMean+wantMean/2+30*time.Millisecond
			if m.mean < low || m.mean > high {
				t.Errorf("one-way delay %v, want %v (%v to %v)", m.mean, wantMean, low, high)
			}
			if m.rtt < 2*low || m.rtt > 2*high {
				t.Errorf("round trip %v, want %v (%v to %v)", m.rtt, 2*wantMean, 2*low, 2*high)
			}
			if sdLow, sdHigh := wantSD*4/5-time.Millisecond, wantSD+wantSD/2+30*time.Millisecond; m.sd < sdLow || m.sd > sdHigh {
				t.Errorf("one-way jitter (deviation) %v, want %v (%v to %v)", m.sd, wantSD, sdLow, sdHigh)
			}
			switch {
			case p.Jitter > spacing && m.reordered == 0:
				t.Errorf("jitter %v over a %v spacing reordered nothing", p.Jitter, spacing)
			case p.Jitter == 0 && m.reordered > 0:
				t.Errorf("no jitter, yet %d datagrams overtook others", m.reordered)
			}
		})
	}
}

// linkFigures is what measureLink saw.
type linkFigures struct {
	got, echoes, reordered int
	mean, sd, rtt          time.Duration
}

// measureLink sends n numbered, timestamped datagrams from a to b, one
// every spacing; b records each one's one-way delay and echoes it, a the
// round trips. It waits a second for the last ones.
func measureLink(t *testing.T, a, b *Host, n int, spacing time.Duration) linkFigures {
	t.Helper()
	tx := listenUDP(t, a, 0)
	rx := listenUDP(t, b, 9100)
	epoch := time.Now()
	var mu sync.Mutex
	var oneWay, rtts []time.Duration
	var reordered, highest = 0, -1
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // b: record and echo
		defer wg.Done()
		buf := make([]byte, 64)
		for {
			_ = rx.SetReadDeadline(time.Now().Add(time.Second))
			m, from, err := rx.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if m != 12 {
				continue
			}
			at := time.Since(epoch)
			seq := int(binary.BigEndian.Uint32(buf[0:]))
			sent := time.Duration(binary.BigEndian.Uint64(buf[4:]))
			mu.Lock()
			oneWay = append(oneWay, at-sent)
			if seq < highest {
				reordered++
			}
			highest = max(highest, seq)
			mu.Unlock()
			_, _ = rx.WriteToUDPAddrPort(buf[:m], from)
		}
	}()
	go func() { // a: round trips
		defer wg.Done()
		buf := make([]byte, 64)
		for {
			_ = tx.SetReadDeadline(time.Now().Add(time.Second))
			m, _, err := tx.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if m != 12 {
				continue
			}
			sent := time.Duration(binary.BigEndian.Uint64(buf[4:]))
			mu.Lock()
			rtts = append(rtts, time.Since(epoch)-sent)
			done := len(rtts) == n
			mu.Unlock()
			if done {
				return
			}
		}
	}()
	to := &net.UDPAddr{IP: b.Addr().AsSlice(), Port: 9100}
	start := time.Now()
	msg := make([]byte, 12)
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * spacing)); d > 0 {
			time.Sleep(d)
		}
		binary.BigEndian.PutUint32(msg[0:], uint32(i))
		binary.BigEndian.PutUint64(msg[4:], uint64(time.Since(epoch)))
		if _, err := tx.WriteToUDP(msg, to); err != nil {
			t.Errorf("send %d: %v", i, err)
			break
		}
	}
	wg.Wait()
	mean, sd := meanSD(oneWay)
	rtt, _ := meanSD(rtts)
	return linkFigures{got: len(oneWay), echoes: len(rtts), reordered: reordered, mean: mean, sd: sd, rtt: rtt}
}

func meanSD(v []time.Duration) (mean, sd time.Duration) {
	if len(v) == 0 {
		return 0, 0
	}
	var sum, sq float64
	for _, x := range v {
		sum += float64(x)
		sq += float64(x) * float64(x)
	}
	m := sum / float64(len(v))
	return time.Duration(m), time.Duration(math.Sqrt(max(sq/float64(len(v))-m*m, 0)))
}

// clippedNormal is the mean and standard deviation of max(X, 0) for X
// normal with mean mu and deviation sigma.
func clippedNormal(mu, sigma time.Duration) (time.Duration, time.Duration) {
	if sigma == 0 {
		return max(mu, 0), 0
	}
	m, s := float64(mu), float64(sigma)
	a := m / s
	phi := math.Exp(-a*a/2) / math.Sqrt(2*math.Pi)
	cdf := 0.5 * math.Erfc(-a/math.Sqrt2)
	mean := m*cdf + s*phi
	second := (m*m+s*s)*cdf + m*s*phi
	return time.Duration(mean), time.Duration(math.Sqrt(max(second-mean*mean, 0)))
}
