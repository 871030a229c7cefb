package jitterbuf

import (
	"math"
	"sync"
	"time"
)

// clockRate is the RTP clock of Opus (RFC 7587): 48 kHz whatever the
// sampling rate.
const clockRate = 48000

const (
	// jbSlots bounds the packets held (about 1.3 s of 20 ms packets).
	jbSlots = 64
	// jbMaxDepth is the depth beyond which the buffer skips ahead rather
	// than playing stale audio (after a long stall, say).
	jbMaxDepth = 48
	// jbShrinkEvery is how many plays a shrink decision waits for: 50
	// pulls, one second of 20 ms packets. Within it the spare depth must
	// have stayed two packets above target; over jbShrinkLong plays (10 s)
	// one packet above is enough.
	jbShrinkEvery = 50
	jbShrinkLong  = 500
	// jbFastExcess: when the spare depth exceeds the target by more than
	// this (a burst after a stalled sender), one packet in jbFastEvery
	// plays is dropped until it is back in range.
	jbFastExcess = 6
	jbFastEvery  = 5
	// jbLossMemory is how many pulls after a loss the buffer keeps one
	// extra frame so the next loss can be rebuilt by FEC (5 s at 20 ms).
	jbLossMemory = 250
	// jbMaxTarget caps the target spare depth (frames).
	jbMaxTarget = 10
	// jbMinMargin is the margin on a clean path: the scheduling jitter of
	// the sender's and the playout clock's wake-ups.
	jbMinMargin = 2 * time.Millisecond
	// jbPhaseHysteresis is how far the window's smallest wait may be from
	// the margin before the phase moves.
	jbPhaseHysteresis = time.Millisecond
	// jbPhaseHold is how many windows the phase does not move earlier
	// after an underrun (5 s): the margin the underrun showed was too
	// small is kept a while.
	jbPhaseHold = 5
	// jbPhaseWindows is how many windows' smallest waits (5 s) the phase
	// looks back on before it moves earlier: a second's 50 packets are too
	// few to show the path's worst.
	jbPhaseWindows = 5
)

// Kind says what the player must do for the next packet's worth of
// audio.
type Kind int

const (
	None    Kind = iota // nothing received yet: play nothing
	Play                // decode payload and play it
	FEC                 // the packet was lost: rebuild it from payload (the next packet's FEC)
	Conceal             // the packet was lost or is late: conceal
	Drop                // decode payload to keep the decoder in step, but do not play it (shrink)
	Silence             // a long underrun (the peer stopped sending): play silence
)

// jbMaxConceal is how many consecutive underrun frames are concealed
// before the buffer switches to silence (concealment fades out anyway).
const jbMaxConceal = 10

type jbSlot struct {
	seq     int64
	ok      bool
	arrival time.Time
	payload []byte
}

// Buffer orders received packets by sequence number and decides, at
// each playout tick, what plays. It is safe for one pusher and one puller.
type Buffer struct {
	mu    sync.Mutex
	frame time.Duration // nominal packet duration
	fec   bool

	slots   [jbSlots]jbSlot
	have    bool  // a packet has been pushed
	started bool  // playout has begun
	next    int64 // sequence number (extended) to play next
	newest  int64 // highest sequence number received (extended)
	stalled bool  // the last pull concealed an underrun at next
	streak  int   // consecutive underrun pulls

	jitter      float64 // interarrival jitter, seconds (RFC 3550 estimator)
	lastTransit float64
	haveTransit bool
	epoch       time.Time

	windowMin  int64 // smallest spare depth seen in the current shrink window
	windowN    int
	longMin    int64 // the same over the long window
	longN      int
	sinceLoss  int
	late       uint64 // packets that arrived after their playout time
	lost       uint64 // packets never received in time
	skipped    uint64 // packets discarded by skipping ahead
	duplicates uint64
	shrinks    uint64
	stalls     uint64
	minSpare   int                           // spare packets held at least (0; 1 was the buffer before phase control)
	waitMin    time.Duration                 // the smallest wait of a played packet in the current window
	waitHist   [jbPhaseWindows]time.Duration // waitMin of the last windows
	waitN      int
	shift      time.Duration // phase move asked of the playout clock, not yet taken
	hold       int           // windows left without moving the phase earlier
	stallSeen  bool          // an underrun in the current window
	shifts     uint64
	lossRuns   uint64 // runs of consecutive lost packets
	prevLost   bool   // the last packet decided was lost
}

// New returns an empty buffer for packets of frame's duration; fec says
// whether the stream carries Opus in-band FEC (a lost packet can be
// rebuilt from the next one).
func New(frame time.Duration, fec bool) *Buffer {
	return &Buffer{frame: frame, fec: fec, windowMin: 1 << 30, longMin: 1 << 30, sinceLoss: jbLossMemory, waitMin: noWait}
}

// Push stores a received packet. ts is its RTP timestamp (48 kHz clock),
// arrival when it came in; payload is copied.
func (jb *Buffer) Push(seq16 uint16, ts uint32, payload []byte, arrival time.Time) {
	jb.mu.Lock()
	defer jb.mu.Unlock()
	var seq int64
	if !jb.have {
		seq = int64(seq16)
		jb.have, jb.newest, jb.next, jb.epoch = true, seq, seq, arrival
	} else {
		seq = jb.newest + int64(int16(seq16-uint16(jb.newest)))
	}
	if jb.started && seq < jb.next {
		jb.late++
		return
	}
	if seq > jb.newest {
		jb.newest = seq
		jb.updateJitter(ts, arrival)
	}
	if s := jb.slots[slot(seq)]; s.ok && s.seq == seq {
		jb.duplicates++
		return
	}
	if !jb.started && seq < jb.next {
		jb.next = seq // reordered before playout began
	}
	sl := &jb.slots[slot(seq)]
	sl.seq, sl.ok, sl.arrival, sl.payload = seq, true, arrival, append(sl.payload[:0], payload...) // reuses the slot's buffer
	if depth := jb.newest - jb.next; depth >= jbMaxDepth {
		// Far behind (a long stall): jump so that the target depth remains.
		to := jb.newest - int64(jb.targetLocked())
		for ; jb.next < to; jb.next++ {
			if jb.take(jb.next) != nil {
				jb.skipped++
			}
		}
		jb.stalled = false
	}
}

func (jb *Buffer) updateJitter(ts uint32, arrival time.Time) {
	transit := arrival.Sub(jb.epoch).Seconds() - float64(ts)/clockRate
	if jb.haveTransit {
		d := transit - jb.lastTransit
		if d < 0 {
			d = -d
		}
		if d < 1 { // ignore timestamp jumps (a new talk spurt, a restarted sender)
			jb.jitter += (d - jb.jitter) / 16
		}
	}
	jb.lastTransit, jb.haveTransit = transit, true
}

// slot is the ring index of an extended sequence number (which may be
// negative: a packet older than the first one seen).
func slot(seq int64) int64 { return (seq%jbSlots + jbSlots) % jbSlots }

// take removes and returns the payload of seq, or nil when absent.
func (jb *Buffer) take(seq int64) []byte {
	s := &jb.slots[slot(seq)]
	if !s.ok || s.seq != seq {
		return nil
	}
	s.ok = false // the slot keeps its buffer for the next packet
	return s.payload
}

func (jb *Buffer) present(seq int64) bool {
	s := jb.slots[slot(seq)]
	return s.ok && s.seq == seq
}

// noWait marks a window in which no packet played yet.
const noWait = time.Duration(math.MaxInt64)

// marginLocked is how long the latest packet should wait before it plays:
// jbMinMargin on a clean path, twice the measured jitter when that is
// more, plus one frame while losses are recent so that FEC finds the next
// packet.
func (jb *Buffer) marginLocked() time.Duration {
	m := max(jbMinMargin, time.Duration(2*jb.jitter*float64(time.Second)))
	if jb.fec && jb.sinceLoss < jbLossMemory {
		m += jb.frame
	}
	return m
}

// targetLocked is the spare depth (packets beyond the one playing) the
// buffer aims to keep: the whole frames of the margin (none on a clean
// path, where the playout clock's phase gives the margin).
func (jb *Buffer) targetLocked() int {
	t := max(jb.minSpare, int(jb.marginLocked()/jb.frame))
	return min(t, jbMaxTarget)
}

// Pull decides what plays at now for the next packet's worth of audio.
// For Play, FEC and Drop it copies the payload to decode into
// dst (which must be as large as the largest payload pushed) and returns
// it: the slot's buffer is reused by the next push.
func (jb *Buffer) Pull(dst []byte, now time.Time) (Kind, []byte) {
	jb.mu.Lock()
	defer jb.mu.Unlock()
	k, p := jb.pullLocked(now)
	return k, dst[:copy(dst, p)]
}

// TakeShift returns how much later (negative: earlier) the playout clock
// should tick from now on, and forgets it.
func (jb *Buffer) TakeShift() time.Duration {
	jb.mu.Lock()
	defer jb.mu.Unlock()
	d := jb.shift
	jb.shift = 0
	return d
}

func (jb *Buffer) pullLocked(now time.Time) (Kind, []byte) {
	if !jb.have {
		return None, nil
	}
	if !jb.started {
		// Begin playout once the target depth is buffered.
		if jb.newest-jb.next < int64(jb.targetLocked()) {
			return None, nil
		}
		jb.started = true
	}
	jb.sinceLoss = min(jb.sinceLoss+1, jbLossMemory)
	for {
		if arrival := jb.slots[slot(jb.next)].arrival; jb.present(jb.next) {
			p := jb.take(jb.next)
			jb.stalled, jb.streak, jb.prevLost = false, 0, false
			spare := jb.newest - jb.next
			jb.next++
			jb.waitMin = min(jb.waitMin, now.Sub(arrival))
			if jb.shrink(spare) {
				jb.shrinks++
				return Drop, p
			}
			return Play, p
		}
		if jb.newest > jb.next { // next is missing but later packets are here: it is lost
			jb.lost++
			if !jb.prevLost {
				jb.lossRuns++
			}
			jb.prevLost = true
			jb.sinceLoss, jb.streak = 0, 0
			if jb.fec && jb.present(jb.next+1) {
				jb.stalled = false
				jb.next++
				return FEC, jb.slots[slot(jb.next)].payload
			}
			jb.next++
			if jb.stalled {
				// The underrun already concealed this packet's time.
				jb.stalled = false
				continue
			}
			return Conceal, nil
		}
		// Underrun: nothing to play. Conceal without consuming next, so
		// that a late packet still plays (the delay grows by one packet).
		jb.stalled = true
		jb.stalls++
		jb.hold = jbPhaseHold
		jb.stallSeen = true
		jb.windowN, jb.windowMin, jb.longN, jb.longMin = 0, 1<<30, 0, 1<<30
		if jb.streak++; jb.streak > jbMaxConceal {
			return Silence, nil
		}
		return Conceal, nil
	}
}

// shrink records the spare depth at a play and says whether to drop one
// packet: when over a short window the spare stayed two packets above the
// target, or over a long window one packet above.
func (jb *Buffer) shrink(spare int64) bool {
	jb.windowMin, jb.longMin = min(jb.windowMin, spare), min(jb.longMin, spare)
	jb.windowN++
	jb.longN++
	target := int64(jb.targetLocked())
	drop := spare > target+jbFastExcess && jb.windowN%jbFastEvery == 0
	if jb.windowN >= jbShrinkEvery {
		drop = drop || jb.windowMin > target+1
		jb.windowN, jb.windowMin = 0, 1<<30
		if !drop {
			jb.movePhase()
		}
		jb.waitMin = noWait
	}
	if jb.longN >= jbShrinkLong {
		drop = drop || jb.longMin > target
		jb.longN, jb.longMin = 0, 1<<30
	}
	if drop {
		jb.windowN, jb.windowMin, jb.longN, jb.longMin = 0, 1<<30, 0, 1<<30
	}
	return drop
}

// movePhase ends a window: when a packet of it waited less than the
// margin (and no underrun already delayed the playout by a frame), the
// playout clock moves later by what was missing (at most half a frame); when every packet of the last jbPhaseWindows windows waited
// longer, earlier by half the excess (at most half a frame a window, and
// not for jbPhaseHold windows after an underrun).
func (jb *Buffer) movePhase() {
	if jb.hold > 0 {
		jb.hold--
	}
	stalled := jb.stallSeen
	jb.stallSeen = false
	if jb.waitMin == noWait {
		return
	}
	jb.waitHist[jb.waitN%jbPhaseWindows] = jb.waitMin
	jb.waitN++
	margin := jb.marginLocked()
	// After an underrun the stall already moved the playout a frame
	// later: the late packet's short wait asks for nothing more.
	if short := margin - jb.waitMin; short > jbPhaseHysteresis && !stalled {
		d := min(short, jb.frame/2)
		jb.shift += d
		for i := range jb.waitHist { // the waits seen so far are d longer now
			jb.waitHist[i] += d
		}
		jb.shifts++
		return
	}
	if jb.hold > 0 || jb.waitN < jbPhaseWindows {
		return
	}
	worst := jb.waitHist[0]
	for _, w := range jb.waitHist[1:] {
		worst = min(worst, w)
	}
	if excess := worst - margin; excess > jbPhaseHysteresis {
		d := min(excess/2, jb.frame/2)
		jb.shift -= d
		for i := range jb.waitHist {
			jb.waitHist[i] -= d
		}
		jb.shifts++
	}
}

// Stats is a snapshot of the buffer's counters.
type Stats struct {
	Jitter     time.Duration // RFC 3550 interarrival jitter
	Margin     time.Duration // how long the latest packet should wait before it plays
	Target     int           // spare packets aimed at
	Depth      int           // packets from the one to play next to the newest received
	Late       uint64        // packets that arrived after their playout time
	Lost       uint64        // packets never received in time
	Skipped    uint64        // packets discarded by skipping ahead after a long stall
	Duplicates uint64
	Shrinks    uint64 // packets dropped to shrink the delay
	Stalls     uint64 // underruns: nothing to play at a playout time
	LossRuns   uint64 // runs of consecutive lost packets
	Shifts     uint64 // moves of the playout clock's phase
}

// Stats returns the buffer's counters.
func (jb *Buffer) Stats() Stats {
	jb.mu.Lock()
	defer jb.mu.Unlock()
	depth := 0
	if jb.have {
		depth = int(max(0, jb.newest-jb.next+1))
	}
	return Stats{
		Jitter: time.Duration(jb.jitter * float64(time.Second)),
		Target: jb.targetLocked(), Depth: depth,
		Late: jb.late, Lost: jb.lost, Skipped: jb.skipped, Duplicates: jb.duplicates,
		Shrinks: jb.shrinks, Stalls: jb.stalls, LossRuns: jb.lossRuns,
		Shifts: jb.shifts, Margin: jb.marginLocked(),
	}
}
