package media

import (
	"math"
	"sync"
	"time"

	"github.com/peercall/peercall/audio"
)

// Why our own jitter buffer: pion/interceptor's pkg/jitterbuffer holds
// packets until a fixed minimum count has arrived and then hands them out
// in sequence order on demand. It has no notion of a playback clock, does
// not say when a packet should be declared lost (so FEC/PLC cannot be
// triggered at the right moment), keeps a fixed depth instead of adapting
// to measured jitter, and does not bound its queue. A voice call needs all
// four, so this file implements a small buffer that:
//   - is driven by the playout clock: one pull per packet's worth of audio;
//   - declares a packet lost when a later one is already there at its
//     playout time, and then offers the next packet for FEC;
//   - keeps a target spare depth of one packet on a clean path, more when
//     the RFC 3550 interarrival jitter says so (2 x jitter), and one more
//     while losses are recent so that FEC finds the next packet;
//   - grows only by stalling on an underrun (concealing without consuming
//     the late packet, which then still plays);
//   - shrinks slowly: one packet when the spare depth stayed two above the
//     target for a second, or one above for ten seconds, faster (one packet
//     in five) only when it is far too deep after a burst;
//   - holds at most jbSlots packets and skips ahead beyond jbMaxDepth.

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
)

// pullKind says what the player must do for the next packet's worth of
// audio.
type pullKind int

const (
	pullNone    pullKind = iota // nothing received yet: play nothing
	pullPlay                    // decode payload and play it
	pullFEC                     // the packet was lost: rebuild it from payload (the next packet's FEC)
	pullConceal                 // the packet was lost or is late: conceal
	pullDrop                    // decode payload to keep the decoder in step, but do not play it (shrink)
	pullSilence                 // a long underrun (the peer stopped sending): play silence
)

// jbMaxConceal is how many consecutive underrun frames are concealed
// before the buffer switches to silence (concealment fades out anyway).
const jbMaxConceal = 10

type jbSlot struct {
	seq     int64
	ok      bool
	payload []byte
}

// jitterBuffer orders received packets by sequence number and decides, at
// each playout tick, what plays. It is safe for one pusher and one puller.
type jitterBuffer struct {
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
	lossRuns   uint64 // runs of consecutive lost packets
	prevLost   bool   // the last packet decided was lost
}

func newJitterBuffer(frame time.Duration, fec bool) *jitterBuffer {
	return &jitterBuffer{frame: frame, fec: fec, windowMin: 1 << 30, longMin: 1 << 30, sinceLoss: jbLossMemory}
}

// push stores a received packet. ts is its RTP timestamp (48 kHz clock),
// arrival when it came in; payload is copied.
func (jb *jitterBuffer) push(seq16 uint16, ts uint32, payload []byte, arrival time.Time) {
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
	sl.seq, sl.ok, sl.payload = seq, true, append(sl.payload[:0], payload...) // reuses the slot's buffer
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

func (jb *jitterBuffer) updateJitter(ts uint32, arrival time.Time) {
	transit := arrival.Sub(jb.epoch).Seconds() - float64(ts)/audio.SampleRate
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
func (jb *jitterBuffer) take(seq int64) []byte {
	s := &jb.slots[slot(seq)]
	if !s.ok || s.seq != seq {
		return nil
	}
	s.ok = false // the slot keeps its buffer for the next packet
	return s.payload
}

func (jb *jitterBuffer) present(seq int64) bool {
	s := jb.slots[slot(seq)]
	return s.ok && s.seq == seq
}

// targetLocked is the spare depth (packets beyond the one playing) the
// buffer aims to keep: one packet on a clean path (the two clocks' tick
// jitter would otherwise cause underruns), enough to cover twice the
// measured jitter when that is more, plus one packet while losses are
// recent so that FEC finds the next packet.
func (jb *jitterBuffer) targetLocked() int {
	t := max(1, int(math.Ceil(2*jb.jitter/jb.frame.Seconds())))
	if jb.fec && jb.sinceLoss < jbLossMemory {
		t++
	}
	return min(t, jbMaxTarget)
}

// pull decides what plays for the next packet's worth of audio. For
// pullPlay, pullFEC and pullDrop it copies the payload to decode into dst
// (which must hold maxOpusPacket bytes) and returns it: the slot's buffer
// is reused by the next push.
func (jb *jitterBuffer) pull(dst []byte) (pullKind, []byte) {
	jb.mu.Lock()
	defer jb.mu.Unlock()
	k, p := jb.pullLocked()
	return k, dst[:copy(dst, p)]
}

func (jb *jitterBuffer) pullLocked() (pullKind, []byte) {
	if !jb.have {
		return pullNone, nil
	}
	if !jb.started {
		// Begin playout once the target depth is buffered.
		if jb.newest-jb.next < int64(jb.targetLocked()) {
			return pullNone, nil
		}
		jb.started = true
	}
	jb.sinceLoss = min(jb.sinceLoss+1, jbLossMemory)
	for {
		if p := jb.take(jb.next); p != nil {
			jb.stalled, jb.streak, jb.prevLost = false, 0, false
			spare := jb.newest - jb.next
			jb.next++
			if jb.shrink(spare) {
				jb.shrinks++
				return pullDrop, p
			}
			return pullPlay, p
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
				return pullFEC, jb.slots[slot(jb.next)].payload
			}
			jb.next++
			if jb.stalled {
				// The underrun already concealed this packet's time.
				jb.stalled = false
				continue
			}
			return pullConceal, nil
		}
		// Underrun: nothing to play. Conceal without consuming next, so
		// that a late packet still plays (the delay grows by one packet).
		jb.stalled = true
		jb.stalls++
		jb.windowN, jb.windowMin, jb.longN, jb.longMin = 0, 1<<30, 0, 1<<30
		if jb.streak++; jb.streak > jbMaxConceal {
			return pullSilence, nil
		}
		return pullConceal, nil
	}
}

// shrink records the spare depth at a play and says whether to drop one
// packet: when over a short window the spare stayed two packets above the
// target, or over a long window one packet above.
func (jb *jitterBuffer) shrink(spare int64) bool {
	jb.windowMin, jb.longMin = min(jb.windowMin, spare), min(jb.longMin, spare)
	jb.windowN++
	jb.longN++
	target := int64(jb.targetLocked())
	drop := spare > target+jbFastExcess && jb.windowN%jbFastEvery == 0
	if jb.windowN >= jbShrinkEvery {
		drop = drop || jb.windowMin > target+1
		jb.windowN, jb.windowMin = 0, 1<<30
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

// jbStats is a snapshot of the buffer's counters.
type jbStats struct {
	jitter                                           time.Duration
	target, depth                                    int
	late, lost, skipped, duplicates, shrinks, stalls uint64
	lossRuns                                         uint64
}

func (jb *jitterBuffer) stats() jbStats {
	jb.mu.Lock()
	defer jb.mu.Unlock()
	depth := 0
	if jb.have {
		depth = int(max(0, jb.newest-jb.next+1))
	}
	return jbStats{
		jitter: time.Duration(jb.jitter * float64(time.Second)),
		target: jb.targetLocked(), depth: depth,
		late: jb.late, lost: jb.lost, skipped: jb.skipped, duplicates: jb.duplicates,
		shrinks: jb.shrinks, stalls: jb.stalls, lossRuns: jb.lossRuns,
	}
}
