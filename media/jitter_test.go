package media

import (
	"testing"
	"time"
)

// jbEvent is one step of a jitter buffer script: packets arriving, then
// one playout pull.
type jbEvent struct {
	arrive []uint16 // sequence numbers pushed before the pull
	want   pullKind
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
			name: "waits for one spare packet, then plays in order",
			script: []jbEvent{
				{[]uint16{0}, pullNone},
				{[]uint16{1}, pullPlay},
				{[]uint16{2}, pullPlay},
				{[]uint16{3}, pullPlay},
			},
		},
		{
			name: "reordered packets play in order",
			script: []jbEvent{
				{[]uint16{1, 0}, pullPlay},
				{[]uint16{3, 2}, pullPlay},
				{nil, pullPlay},
				{nil, pullPlay},
			},
		},
		{
			name: "loss with FEC: rebuilt from the next packet",
			fec:  true,
			script: []jbEvent{
				{[]uint16{0, 1}, pullPlay},
				{[]uint16{3}, pullPlay}, // 1
				{[]uint16{4}, pullFEC},  // 2 from 3
				{[]uint16{5}, pullPlay}, // 3
				{[]uint16{6}, pullPlay}, // 4
			},
			lost: 1,
		},
		{
			name: "loss without FEC: concealed",
			script: []jbEvent{
				{[]uint16{0, 1}, pullPlay},
				{[]uint16{3}, pullPlay},    // 1
				{[]uint16{4}, pullConceal}, // 2
				{nil, pullPlay},            // 3
			},
			lost: 1,
		},
		{
			name: "underrun conceals without skipping; the late packet still plays",
			script: []jbEvent{
				{[]uint16{0, 1}, pullPlay},
				{nil, pullPlay},    // 1
				{nil, pullConceal}, // underrun at 2
				{[]uint16{2}, pullPlay},
				{[]uint16{3}, pullPlay},
			},
		},
		{
			name: "a packet lost during an underrun is not concealed twice",
			script: []jbEvent{
				{[]uint16{0, 1}, pullPlay},
				{nil, pullPlay},         // 1
				{nil, pullConceal},      // underrun at 2
				{[]uint16{3}, pullPlay}, // 2 is lost: its time was already concealed; play 3
			},
			lost: 1,
		},
		{
			name: "a packet older than the playout point is dropped as late",
			script: []jbEvent{
				{[]uint16{0, 2, 3}, pullPlay}, // 0
				{nil, pullConceal},            // 1 lost
				{[]uint16{1}, pullPlay},       // 1 arrives late; 2 plays
			},
			lost: 1, late: 1,
		},
		{
			name: "sequence numbers wrap",
			script: []jbEvent{
				{[]uint16{65534, 65535}, pullPlay},
				{[]uint16{0}, pullPlay},
				{[]uint16{1}, pullPlay},
				{nil, pullPlay},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jb := newJitterBuffer(20*time.Millisecond, tc.fec)
			now := time.Unix(0, 0)
			for i, ev := range tc.script {
				for _, seq := range ev.arrive {
					jb.push(seq, uint32(seq)*960, []byte{byte(seq)}, now)
				}
				now = now.Add(20 * time.Millisecond)
				if got, _ := jb.pull(make([]byte, maxOpusPacket)); got != ev.want {
					t.Fatalf("step %d: pull = %d, want %d", i, got, ev.want)
				}
			}
			st := jb.stats()
			if st.lost != tc.lost || st.late != tc.late {
				t.Errorf("lost %d late %d, want %d and %d", st.lost, st.late, tc.lost, tc.late)
			}
		})
	}
}

// TestJitterBufferAdapts: the target grows with jitter and the buffer
// shrinks back (slowly) once the jitter is gone; its size stays bounded.
func TestJitterBufferAdapts(t *testing.T) {
	const frame = 20 * time.Millisecond
	jb := newJitterBuffer(frame, false)
	now := time.Unix(0, 0)
	seq := uint16(0)
	pull := func() { // as the player does: a dropped packet is followed by the next
		for k, _ := jb.pull(make([]byte, maxOpusPacket)); k == pullDrop; k, _ = jb.pull(make([]byte, maxOpusPacket)) {
		}
	}
	send := func(jitter time.Duration) {
		jb.push(seq, uint32(seq)*960, []byte{1}, now.Add(jitter))
		seq++
	}
	// 5 s of packets arriving with ±30 ms jitter.
	for i := 0; i < 250; i++ {
		send(time.Duration((i%3)-1) * 30 * time.Millisecond)
		now = now.Add(frame)
		pull()
	}
	high := jb.stats()
	if high.target < 3 {
		t.Errorf("target %d packets with 30 ms jitter, want >= 3", high.target)
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
	low := jb.stats()
	t.Logf("jittery: %+v; clean again: %+v", high, low)
	if low.target != 1 || low.depth > 3 {
		t.Errorf("after 30 s clean, target %d depth %d, want 1 and <= 3", low.target, low.depth)
	}
	if low.shrinks == 0 {
		t.Error("never shrank")
	}
	// Bound: a flood far beyond the buffer's size skips ahead.
	for i := 0; i < 3*jbSlots; i++ {
		send(0)
	}
	if d := jb.stats().depth; d > jbMaxDepth {
		t.Errorf("depth %d after a flood, want <= %d", d, jbMaxDepth)
	}
}
