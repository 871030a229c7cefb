package netlab

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// Profile is a path's impairment, each way: every packet is delayed by
// Delay plus a normally distributed variation of standard deviation Jitter
// (never below zero, so packets overtake each other when the variation
// exceeds their spacing), and lost by a two-state Gilbert-Elliott chain:
// in the bad state every packet is lost, bad states last MeanBurst packets
// on average, and Loss of all packets is lost in the long run. A round
// trip through a profile on both ways takes 2*Delay.
//
// Link and WANLink apply a Profile to a machine's link through the
// userspace impairment stage (stage.go; this kernel has no sch_netem):
// Shaper is its per-packet decision, measured by TestProfilesImpose, and
// TestLinkImposes measures the stage itself.
type Profile struct {
	Name      string
	Delay     time.Duration // one way
	Jitter    time.Duration // standard deviation of the added delay
	Loss      float64       // long-run fraction of packets lost, 0 to 1
	MeanBurst float64       // mean run of consecutive losses, >= 1
}

// Profiles are the lab's paths: the lan, dsl (40 ms RTT, 5 ms
// jitter, 0.5 % loss), wan (120 ms RTT, 20 ms jitter, 2 % bursty loss) and
// bad-wifi (60 ms RTT, 40 ms jitter, 5 % bursty loss).
var Profiles = map[string]Profile{
	"lan":      {Name: "lan", Delay: 250 * time.Microsecond, MeanBurst: 1},
	"dsl":      {Name: "dsl", Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.005, MeanBurst: 1},
	"wan":      {Name: "wan", Delay: 60 * time.Millisecond, Jitter: 20 * time.Millisecond, Loss: 0.02, MeanBurst: 3},
	"bad-wifi": {Name: "bad-wifi", Delay: 30 * time.Millisecond, Jitter: 40 * time.Millisecond, Loss: 0.05, MeanBurst: 4},
}

// ProfileNames are the Profiles' names, sorted.
func ProfileNames() []string {
	var out []string
	for n := range Profiles {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Shaper makes a Profile's per-packet decisions for one direction.
type Shaper struct {
	p             Profile
	rng           *rand.Rand
	bad           bool
	toBad, toGood float64 // Gilbert-Elliott transition probabilities per packet
}

// NewShaper returns a shaper for p with its own random source (seed fixes
// it, for tests).
func NewShaper(p Profile, seed uint64) (*Shaper, error) {
	if p.Loss < 0 || p.Loss >= 1 || p.Delay < 0 || p.Jitter < 0 || (p.Loss > 0 && p.MeanBurst < 1) {
		return nil, fmt.Errorf("netlab: profile %q: want 0 <= Loss < 1, Delay and Jitter >= 0, MeanBurst >= 1 with loss; got %+v", p.Name, p)
	}
	s := &Shaper{p: p, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	if p.Loss > 0 {
		// Stationary bad-state probability toBad/(toBad+toGood) = Loss,
		// mean bad run 1/toGood = MeanBurst.
		s.toGood = 1 / p.MeanBurst
		s.toBad = p.Loss * s.toGood / (1 - p.Loss)
	}
	return s, nil
}

// Next decides the fate of the next packet: lost, or delivered after delay.
func (s *Shaper) Next() (lost bool, delay time.Duration) {
	if s.bad {
		s.bad = s.rng.Float64() >= s.toGood
	} else {
		s.bad = s.rng.Float64() < s.toBad
	}
	if s.bad {
		return true, 0
	}
	d := float64(s.p.Delay) + s.rng.NormFloat64()*float64(s.p.Jitter)
	return false, time.Duration(math.Max(d, 0))
}

// Half is the profile of each of two links in series that together make
// p, for a path between two shaped machines (each on its access link):
// half the delay, the jitter over √2 (independent variations add in
// variance), and the loss l with (1-l)² = 1-Loss, in bursts as long.
// Clipping at zero makes the sum a little less jittery than p when the
// jitter is near the delay (bad-wifi).
func (p Profile) Half() Profile {
	h := p
	h.Name = p.Name + "/2"
	h.Delay = p.Delay / 2
	h.Jitter = time.Duration(float64(p.Jitter) / math.Sqrt2)
	h.Loss = 1 - math.Sqrt(1-p.Loss)
	return h
}
