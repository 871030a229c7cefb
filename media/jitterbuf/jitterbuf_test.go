package jitterbuf

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// maxPayload is the pull buffer's size: media's largest Opus packet.
const maxPayload = 4000

// playoutPhase mirrors media's: the playout clock ticks this long after
// the first packet arrived.
const playoutPhase = 3 * time.Millisecond

// jbEvent is one step of a jitter buffer script: packets arriving, then
// one playout pull.
type jbEvent struct {
	arrive []uint16 // sequence numbers pushed before the pull
	want   Kind
}

func TestJitterBuffer(t *testing.T) {
	tests := []struct {
		name   string
		fec    bool
		script []jbEvent
		lost   uint64
		late   uint64
	}{
		{
			name: "plays the first packet at once on a clean path, then in order",
			script: []jbEvent{
				{nil, None},
				{[]uint16{0, 1}, Play},
				{[]uint16{2}, Play},
				{[]uint16{3}, Play},
			},
		},
		{
			name: "reordered packets play in order",
			script: []jbEvent{
				{[]uint16{1, 0}, Play},
				{[]uint16{3, 2}, Play},
				{nil, Play},
				{nil, Play},
			},
		},
		{
			name: "loss with FEC: rebuilt from the next packet",
			fec:  true,
			script: []jbEvent{
				{[]uint16{0, 1}, Play},
				{[]uint16{3}, Play}, // 1
				{[]uint16{4}, FEC},  // 2 from 3
				{[]uint16{5}, Play}, // 3
				{[]uint16{6}, Play}, // 4
			},
			lost: 1,
		},
		{
			name: "loss without FEC: concealed",
			script: []jbEvent{
				{[]uint16{0, 1}, Play},
				{[]uint16{3}, Play},    // 1
				{[]uint16{4}, Conceal}, // 2
				{nil, Play},            // 3
			},
			lost: 1,
		},
		{
			name: "underrun conceals without skipping; the late packet still plays",
			script: []jbEvent{
				{[]uint16{0, 1}, Play},
				{nil, Play},    // 1
				{nil, Conceal}, // underrun at 2
				{[]uint16{2}, Play},
				{[]uint16{3}, Play},
			},
		},
		{
			name: "a packet lost during an underrun is not concealed twice",
			script: []jbEvent{
				{[]uint16{0, 1}, Play},
				{nil, Play},         // 1
				{nil, Conceal},      // underrun at 2
				{[]uint16{3}, Play}, // 2 is lost: its time was already concealed; play 3
			},
			lost: 1,
		},
		{
			name: "a packet older than the playout point is dropped as late",
			script: []jbEvent{
				{[]uint16{0, 2, 3}, Play}, // 0
				{nil, Conceal},            // 1 lost
				{[]uint16{1}, Play},       // 1 arrives late; 2 plays
			},
			lost: 1, late: 1,
		},
		{
			name: "sequence numbers wrap",
			script: []jbEvent{
				{[]uint16{65534, 65535}, Play},
				{[]uint16{0}, Play},
				{[]uint16{1}, Play},
				{nil, Play},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jb := New(20*time.Millisecond, tc.fec)
			now := time.Unix(0, 0)
			for i, ev := range tc.script {
				for _, seq := range ev.arrive {
					jb.Push(seq, uint32(seq)*960, []byte{byte(seq)}, now)
				}
				now = now.Add(20 * time.Millisecond)
				if got, _ := jb.Pull(make([]byte, maxPayload), now); got != ev.want {
					t.Fatalf("step %d: pull = %d, want %d", i, got, ev.want)
				}
			}
			st := jb.Stats()
			if st.Lost != tc.lost || st.Late != tc.late {
				t.Errorf("lost %d late %d, want %d and %d", st.Lost, st.Late, tc.lost, tc.late)
			}
		})
	}
}

// TestJitterBufferAdapts: the target grows with jitter and the buffer
// shrinks back (slowly) once the jitter is gone; its size stays bounded.
func TestJitterBufferAdapts(t *testing.T) {
	const frame = 20 * time.Millisecond
	jb := New(frame, false)
	now := time.Unix(0, 0)
	seq := uint16(0)
	pull := func() { // as the player does: a dropped packet is followed by the next
		for k, _ := jb.Pull(make([]byte, maxPayload), now); k == Drop; k, _ = jb.Pull(make([]byte, maxPayload), now) {
		}
	}
	send := func(jitter time.Duration) {
		jb.Push(seq, uint32(seq)*960, []byte{1}, now.Add(jitter))
		seq++
	}
	// 5 s of packets arriving with ±30 ms jitter.
	for i := 0; i < 250; i++ {
		send(time.Duration((i%3)-1) * 30 * time.Millisecond)
		now = now.Add(frame)
		pull()
	}
	high := jb.Stats()
	if high.Target < 3 {
		t.Errorf("target %d packets with 30 ms jitter, want >= 3", high.Target)
	}
	// A burst of 40 packets at once (a stalled sender catching up), then
	// 30 s of a clean path.
	for i := 0; i < 40; i++ {
		send(0)
	}
	for i := 0; i < 1500; i++ {
		send(0)
		now = now.Add(frame)
		pull()
	}
	low := jb.Stats()
	t.Logf("jittery: %+v; clean again: %+v", high, low)
	if low.Target != 0 || low.Depth > 3 || low.Margin != jbMinMargin {
		t.Errorf("after 30 s clean, target %d depth %d margin %v, want 0, <= 3 and %v", low.Target, low.Depth, low.Margin, jbMinMargin)
	}
	if low.Shrinks == 0 {
		t.Error("never shrank")
	}
	// Bound: a flood far beyond the buffer's size skips ahead.
	for i := 0; i < 3*jbSlots; i++ {
		send(0)
	}
	if d := jb.Stats().Depth; d > jbMaxDepth {
		t.Errorf("depth %d after a flood, want <= %d", d, jbMaxDepth)
	}
}

// jbProfile is a path for the playout simulation: each packet's extra
// delay and whether it is lost.
type jbProfile struct {
	name  string
	delay func(i int, rnd *rand.Rand) time.Duration
	loss  float64
}

// simResult is what a simulated call heard.
type simResult struct {
	st       Stats
	meanWait time.Duration // mean time from a packet's send to its play
}

// simulatePlayout runs n packets of 20 ms through a jitter buffer driven
// by a playout clock as playoutLoop drives it (phase anchored 3 ms after
// the first packet, shifts applied when phase is set), on simulated time.
func simulatePlayout(p jbProfile, n int, phase bool, seed uint64) simResult {
	const frame = 20 * time.Millisecond
	jb := New(frame, true)
	if !phase {
		jb.minSpare = 1 // the buffer before phase control: one spare packet, a fixed clock
	}
	rnd := rand.New(rand.NewPCG(seed, 1))
	t0 := time.Unix(1000, 0)
	type arrival struct {
		at  time.Time
		seq int
	}
	var arr []arrival
	for i := range n {
		if rnd.Float64() < p.loss {
			continue
		}
		arr = append(arr, arrival{t0.Add(time.Duration(i)*frame + time.Millisecond + p.delay(i, rnd)), i})
	}
	slices.SortStableFunc(arr, func(a, b arrival) int { return a.at.Compare(b.at) })
	next := arr[0].at.Add(playoutPhase)
	var waits time.Duration
	plays := 0
	buf := make([]byte, maxPayload)
	k := 0
	end := t0.Add(time.Duration(n) * frame)
	for next.Before(end) {
		for k < len(arr) && !arr[k].at.After(next) {
			jb.Push(uint16(arr[k].seq), uint32(arr[k].seq)*960, []byte{1}, arr[k].at)
			k++
		}
		for {
			kind, _ := jb.Pull(buf, next)
			if kind == Play { // packet jb.next-1, sent at t0 + seq*frame
				waits += next.Sub(t0.Add(time.Duration(jb.next-1) * frame))
				plays++
			}
			if kind != Drop {
				break
			}
		}
		next = next.Add(frame)
		if phase {
			next = next.Add(jb.TakeShift())
		}
	}
	return simResult{st: jb.Stats(), meanWait: waits / time.Duration(max(1, plays))}
}

// TestJitterBufferProfiles runs clean and impaired paths through the
// buffer with its phase control and through the buffer as it was (one
// spare packet at least, a fixed playout phase): on a clean path the delay
// falls by most of a frame; on impaired ones no more packets come too late
// (late, or lost while they were only late), and no more underruns.
func TestJitterBufferProfiles(t *testing.T) {
	uniform := func(j time.Duration) func(int, *rand.Rand) time.Duration {
		return func(_ int, r *rand.Rand) time.Duration { return time.Duration(r.Int64N(int64(j))) }
	}
	profiles := []jbProfile{
		{name: "clean", delay: uniform(500 * time.Microsecond)},
		{name: "jitter 10ms", delay: uniform(10 * time.Millisecond)},
		{name: "jitter 30ms", delay: uniform(30 * time.Millisecond)},
		{name: "loss 5% jitter 10ms", delay: uniform(10 * time.Millisecond), loss: 0.05},
		{name: "spikes 60ms every 2s", delay: func(i int, r *rand.Rand) time.Duration {
			if i%100 < 3 {
				return 60 * time.Millisecond
			}
			return time.Duration(r.Int64N(int64(2 * time.Millisecond)))
		}},
	}
	const n = 3000 // 60 s
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			var lateOld, lateNew, stallOld, stallNew, lostOld, lostNew uint64
			var waitOld, waitNew time.Duration
			for seed := range uint64(3) {
				o, nw := simulatePlayout(p, n, false, seed), simulatePlayout(p, n, true, seed)
				lateOld += o.st.Late
				lateNew += nw.st.Late
				stallOld += o.st.Stalls
				stallNew += nw.st.Stalls
				lostOld += o.st.Lost
				lostNew += nw.st.Lost
				waitOld += o.meanWait
				waitNew += nw.meanWait
			}
			t.Logf("3 x 60 s before: late %d, lost %d, underruns %d, mean delay %v; now: late %d, lost %d, underruns %d, mean delay %v",
				lateOld, lostOld, stallOld, waitOld/3, lateNew, lostNew, stallNew, waitNew/3)
			if lateNew > lateOld || lostNew > lostOld {
				t.Errorf("%d packets came too late and %d were lost, %d and %d before", lateNew, lostNew, lateOld, lostOld)
			}
			// Starting without a spare packet may cost one underrun at the
			// start, and a first loss after a clean stretch one more (it is
			// concealed, as before, rather than rebuilt by FEC).
			if stallNew > stallOld+3*4 {
				t.Errorf("%d underruns, %d before", stallNew, stallOld)
			}
			if p.name == "clean" {
				if waitNew > waitOld-15*time.Millisecond {
					t.Errorf("mean delay %v on a clean path, %v before: want most of a frame less", waitNew/3, waitOld/3)
				}
				if stallNew > 3 {
					t.Errorf("%d underruns on a clean path", stallNew)
				}
			}
		})
	}
}

// FuzzJitterBuffer: sequence numbers come from the network. Any order of
// pushes and pulls must keep the buffer within its bounds.
func FuzzJitterBuffer(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 2, 0, 0xff, 3, 0})
	f.Add([]byte{0xff, 0xff, 0, 0, 0x80, 0, 0xff, 0x7f, 0xff})
	f.Fuzz(func(t *testing.T, script []byte) {
		jb := New(20*time.Millisecond, len(script)%2 == 0)
		now := time.Unix(0, 0)
		for i := 0; i+1 < len(script); i += 2 {
			if script[i] == 0xff { // a pull
				jb.Pull(make([]byte, maxPayload), now)
				continue
			}
			seq := uint16(script[i])<<8 | uint16(script[i+1])
			jb.Push(seq, uint32(seq)*960, []byte{1}, now)
			now = now.Add(time.Duration(script[i+1]) * time.Millisecond)
			if d := jb.Stats().Depth; d > jbSlots {
				t.Fatalf("depth %d exceeds %d slots", d, jbSlots)
			}
		}
	})
}
