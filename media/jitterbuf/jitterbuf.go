package jitterbuf

import (
	"math"
	"slices"
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
	// jbWindowPulls is how many plays a window of the phase control
	// lasts: 50, one second of 20 ms packets. At its end the aim is
	// recomputed and the phase moves.
	jbWindowPulls = 50
	// jbFirstWindows are shorter (jbFirstWindowPulls plays): at the
	// start of a call the aim is found quickly.
	jbFirstWindows     = 5
	jbFirstWindowPulls = 10
	// jbFastExcess: when the playout is this many frames later than its
	// aim (a backlog after a stall, say), a packet of speech is dropped
	// every jbFastEvery plays until it is back in range, not one a
	// window; silence whenever a frame is to gain.
	jbFastExcess = 3
	jbFastEvery  = 3
	// jbQuietBytes is the largest packet always taken for silence: Opus's
	// DTX packets are 1 byte. Without DTX, silence is about 30 bytes and
	// speech twice that at 28 kbit/s: a packet of at most half the recent
	// peak size (peakSize) is taken for silence too.
	jbQuietBytes = 3
	// jbRecentPulls is how many plays the excess over the aim is measured
	// over between windows (the smallest offset of them: a late wake-up
	// of the playout clock is no backlog), so a backlog starts draining
	// within 10 frames.
	jbRecentPulls = 10
	// jbGapLate: a packet whose transit exceeds the aim by more than this
	// was held by a stalled path (a gap), not delayed by jitter: its
	// transit is kept aside, and enters the window only when jbNewPath
	// such packets come in a row (the path is now slower).
	jbGapLate = 60 * time.Millisecond
	jbNewPath = 25
	// jbLevelPath: a path held back is followed by its backlog, whose
	// transits fall by a frame a packet as it is delivered at once; a
	// source that stalled (a microphone that stopped, the switch to
	// another device) sends on in real time, its transits level but
	// higher by the time it lost. jbLevelPath packets kept aside whose
	// transits lie within jbGapLate of each other are such a source: the
	// window starts again with them, without waiting for jbNewPath.
	jbLevelPath = 10
	// jbLossMemory is how many pulls after a loss the buffer keeps the
	// next packet there (jbFECQuantileMin) so the next loss can be rebuilt
	// by FEC (5 s at 20 ms).
	jbLossMemory = 250
	// While losses are recent, the aim is at least the jbFECQuantileMin
	// (median) transit plus a frame when losses are rare, rising to the
	// jbFECQuantileMax one plus a frame at jbFECLossFull of the packets
	// lost (averaged over about jbLossAvg packets): the delay spent so
	// that FEC finds the packet after a lost one is worth it in
	// proportion to how many are lost. At the median, half the losses
	// find the next packet not yet there: an underrun, then a rebuild a
	// frame later (or a concealment).
	jbFECQuantileMin = 0.5
	jbFECQuantileMax = 0.98
	jbFECLossFull    = 0.03
	jbLossAvg        = 100
	// jbMaxTarget caps the target spare depth (frames).
	jbMaxTarget = 10
	// jbMinMargin is the margin on a clean path: the scheduling jitter of
	// the sender's and the playout clock's wake-ups.
	jbMinMargin = 2 * time.Millisecond
	// jbPhaseHysteresis is how far the playout may be from its aim
	// before the phase moves.
	jbPhaseHysteresis = time.Millisecond
	// jbPhaseHold is how many windows the phase does not move earlier
	// after an underrun (5 s): the margin the underrun showed was too
	// small is kept a while.
	jbPhaseHold = 5
	// jbTransits is the sliding window of packets whose delay variation
	// the aim follows (10 s of 20 ms packets), and jbQuantile the share
	// of them that should come in time.
	jbTransits = 500
	jbQuantile = 0.993
	// jbTransitJump is a change of transit time that is no delay
	// variation but a new path or a restarted sender: the window starts
	// again.
	jbTransitJump = time.Second
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
	due     time.Duration // RTP timestamp as time since the first packet's
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
	owed    int   // underrun pulls that concealed next's time: given back if it is lost
	streak  int   // consecutive underrun pulls

	jitter      float64 // interarrival jitter, seconds (RFC 3550 estimator)
	lastTransit float64
	haveTransit bool
	epoch       time.Time

	windowN    int // plays in the current window
	sinceLoss  int
	lossAvg    float64 // share of the packets lost, averaged over about jbLossAvg
	late       uint64  // packets that arrived after their playout time
	lost       uint64  // packets never received in time
	skipped    uint64  // packets discarded by skipping ahead
	duplicates uint64
	shrinks    uint64
	stalls     uint64
	shifts     uint64
	lossRuns   uint64 // runs of consecutive lost packets
	prevLost   bool   // the last packet decided was lost

	// Delay variation and the playout aim. A packet's transit is its
	// arrival minus its RTP timestamp (both from the first packet); its
	// playout offset is its play time minus its timestamp. A packet is in
	// time when the playout offset is at least its transit.
	firstTs         uint32
	newestExt       int64                     // extended RTP timestamp of the newest packet
	transits        [jbTransits]time.Duration // the last packets' transits (ring)
	transitN        int                       // transits recorded since the window started
	sorted          [jbTransits]time.Duration // scratch for the quantiles
	qMin, q50       time.Duration             // smallest and median transit of the window
	aim             time.Duration             // the playout offset aimed at
	lastOffset      time.Duration             // the playout offset of the current window's last play (noWait: none yet)
	offset          time.Duration             // the smallest playout offset in the current window
	playOffset      time.Duration             // the playout offset of the last packet played (noWait: none yet)
	excess          time.Duration             // how much later than aim the playout was at the last window's end (less the drops since)
	minSpare        int                       // spare packets held at least (for tests)
	shift           time.Duration             // phase move asked of the playout clock, not yet taken
	hold            int                       // windows left without moving the phase earlier
	stallSeen       bool                      // an underrun in the current window
	windows         int                       // windows ended
	recent          time.Duration             // the smallest playout offset of the last plays (< jbRecentPulls)
	recentN         int
	peakSize        float64                  // recent largest payload, decaying by 1/1024 a packet
	sinceDrop       int                      // plays since a packet of speech was dropped for a backlog
	gapN            int                      // transits kept aside (jbGapLate)
	gap             [jbNewPath]time.Duration // the transits kept aside
	grow            int                      // frames to conceal without consuming: the playout moves later
	droppedInWindow bool                     // a packet was dropped to shrink in the current window
}

// New returns an empty buffer for packets of frame's duration; fec says
// whether the stream carries Opus in-band FEC (a lost packet can be
// rebuilt from the next one).
func New(frame time.Duration, fec bool) *Buffer {
	return &Buffer{frame: frame, fec: fec, sinceLoss: jbLossMemory, offset: noWait, lastOffset: noWait, playOffset: noWait, recent: noWait, aim: jbMinMargin}
}

// Push stores a received packet. ts is its RTP timestamp (48 kHz clock),
// arrival when it came in; payload is copied.
func (jb *Buffer) Push(seq16 uint16, ts uint32, payload []byte, arrival time.Time) {
	jb.mu.Lock()
	defer jb.mu.Unlock()
	var seq int64
	if !jb.have {
		seq = int64(seq16)
		jb.have, jb.newest, jb.next, jb.epoch, jb.firstTs = true, seq, seq, arrival, ts
	} else {
		seq = jb.newest + int64(int16(seq16-uint16(jb.newest)))
	}
	ext := jb.newestExt + int64(int32(ts-jb.firstTs-uint32(jb.newestExt)))
	due := time.Duration(ext) * time.Second / clockRate
	if s := jb.slots[slot(seq)]; !(s.ok && s.seq == seq) {
		jb.noteTransit(arrival.Sub(jb.epoch) - due)
	}
	if jb.started && seq < jb.next {
		jb.late++
		return
	}
	if seq > jb.newest {
		jb.newest, jb.newestExt = seq, ext
		jb.updateJitter(ts, arrival)
	}
	if s := jb.slots[slot(seq)]; s.ok && s.seq == seq {
		jb.duplicates++
		return
	}
	if !jb.started && seq < jb.next {
		jb.next = seq // reordered before playout began
	}
	jb.peakSize = max(float64(len(payload)), jb.peakSize-jb.peakSize/1024)
	sl := &jb.slots[slot(seq)]
	sl.seq, sl.ok, sl.arrival, sl.due, sl.payload = seq, true, arrival, due, append(sl.payload[:0], payload...) // reuses the slot's buffer
	if depth := jb.newest - jb.next; depth >= jbMaxDepth {
		// Far behind (a long stall): jump so that the target depth remains.
		to := jb.newest - int64(jb.targetLocked())
		for ; jb.next < to; jb.next++ {
			if jb.take(jb.next) != nil {
				jb.skipped++
			}
		}
		jb.owed = 0
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

// noteTransit records a received packet's transit in the sliding window.
// A transit far beyond the aim is kept aside (a path that held packets and
// then delivered them at once must not raise the aim for the window's
// 10 s) until jbNewPath of them came in a row: the path is slower now, and
// the window starts again with them. A transit far below the window's
// median (a faster path, a restarted sender) starts it again too.
func (jb *Buffer) noteTransit(t time.Duration) {
	if jb.transitN >= jbWindowPulls && t > jb.aim+jbGapLate {
		jb.gap[jb.gapN] = t
		jb.gapN++
		last := jb.gap[max(0, jb.gapN-jbLevelPath):jb.gapN]
		if jb.gapN < jbNewPath && (len(last) < jbLevelPath || slices.Max(last)-slices.Min(last) > jbGapLate) {
			return
		}
		// The window starts again with all of them: the first few,
		// what the source's device had buffered, came at once, and
		// the playout that played them as they came is as late as
		// the latest of them (as at the start of a call, when the
		// first packet's transit is in the window too); an aim
		// without them would drop what they added.
		jb.transitN = 0
		for _, g := range jb.gap[:jb.gapN] {
			jb.record(g)
		}
		jb.gapN = 0
		// The aim follows at once, and the playout's excess over it
		// with it (the last play's offset against the new aim).
		jb.updateAim()
		if jb.playOffset != noWait {
			jb.excess = jb.playOffset - jb.aim
		}
		return
	}
	jb.gapN = 0
	if jb.transitN > 0 && jb.q50-t > jbTransitJump {
		jb.transitN = 0
	}
	jb.record(t)
}

func (jb *Buffer) record(t time.Duration) {
	if jb.transitN == 0 {
		jb.qMin, jb.q50 = t, t
	}
	jb.transits[jb.transitN%jbTransits] = t
	jb.transitN++
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

// updateAim recomputes the playout offset aimed at from the window of
// transits: their jbQuantile quantile plus jbMinMargin, so that all but
// about 1 % of the packets come in time; while losses are recent (and FEC
// is on) at least a quantile of them plus a frame, from the median when
// losses are rare to jbFECQuantileMax when many are (jbFECLossFull), so
// that the packet after a lost one is there, mostly, to rebuild it.
func (jb *Buffer) updateAim() {
	n := min(jb.transitN, jbTransits)
	if n == 0 {
		return
	}
	w := jb.sorted[:n]
	copy(w, jb.transits[:n])
	slices.Sort(w)
	jb.qMin, jb.q50 = w[0], w[n/2]
	jb.aim = w[min(n-1, int(jbQuantile*float64(n)))] + jbMinMargin
	if jb.fec && jb.sinceLoss < jbLossMemory {
		q := jbFECQuantileMin + (jbFECQuantileMax-jbFECQuantileMin)*min(1, jb.lossAvg/jbFECLossFull)
		jb.aim = max(jb.aim, w[min(n-1, int(q*float64(n)))]+jb.frame)
	}
}

// marginLocked is how long the fastest packet of the window waits before
// it plays when the playout is at its aim: jbMinMargin on a clean path.
func (jb *Buffer) marginLocked() time.Duration {
	return max(jbMinMargin, jb.aim-jb.qMin)
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
	if jb.windowN++; jb.windowN >= jbWindowPulls || (jb.windows < jbFirstWindows && jb.windowN >= jbFirstWindowPulls) {
		jb.windows++
		jb.windowN = 0
		jb.endWindow()
	}
	if jb.grow > 0 && !(jb.owed > 0 && jb.lostWithFEC()) {
		// The playout moves later by whole frames: conceal without
		// consuming, as an underrun does. (When an underrun already
		// concealed the time of a packet now known lost, its FEC
		// rebuild is the frame to grow by instead: below.)
		jb.grow--
		jb.excess += jb.frame
		return Conceal, nil
	}
	for {
		if jb.present(jb.next) {
			sl := &jb.slots[slot(jb.next)]
			offset := now.Sub(jb.epoch) - sl.due
			p := jb.take(jb.next)
			jb.next++
			jb.lossAvg -= jb.lossAvg / jbLossAvg
			if jb.owed > 0 && offset > jb.aim+jbGapLate && jb.held(sl) {
				// Held by a path that stalled (its time concealed, far
				// beyond the aim, and the path delivering again, the
				// packets after it faster than in real time): stale.
				jb.late++
				jb.owed--
				jb.excess -= jb.frame
				continue
			}
			jb.owed, jb.streak, jb.prevLost = 0, 0, false
			jb.offset, jb.lastOffset, jb.playOffset = min(jb.offset, offset), offset, offset
			jb.recent = min(jb.recent, offset)
			if jb.recentN++; jb.recentN >= jbRecentPulls {
				jb.excess = jb.recent - jb.aim
				jb.recent, jb.recentN = noWait, 0
			}
			if jb.shrink(len(p)) {
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
			jb.streak = 0
			jb.noteLoss()
			if jb.owed > 0 {
				// An underrun already concealed this packet's time.
				jb.owed--
				if jb.lostWithFEC() && (jb.grow > 0 || jb.excess < jb.frame+jbPhaseHysteresis) {
					// Keep the underrun's frame and rebuild the
					// packet from the next one's FEC, rather than
					// skip it (its time concealed), unless that
					// leaves the playout a frame beyond its aim
					// (what shrink would drop): a frame to grow
					// by anyway, or the aim just raised by the
					// loss, or the packet after the lost one
					// simply later than the aim allowed for.
					if jb.grow > 0 {
						jb.grow--
						jb.excess += jb.frame
					}
					jb.next++
					return FEC, jb.slots[slot(jb.next)].payload
				}
				jb.excess -= jb.frame
				jb.next++
				continue
			}
			if jb.fec && jb.present(jb.next+1) {
				jb.next++
				return FEC, jb.slots[slot(jb.next)].payload
			}
			jb.next++
			return Conceal, nil
		}
		// Underrun: nothing to play. Conceal without consuming next, so
		// that a late packet still plays (the delay grows by one packet);
		// when later packets show it lost instead, its time is given back
		// (owed). Only while the playout is earlier than its aim does the
		// underrun hold the phase (the margin was too small): once as
		// late as the aim, the packet is most likely lost, in a burst or
		// a stalled path.
		due := time.Duration(jb.newestExt)*time.Second/clockRate + time.Duration(jb.next-jb.newest)*jb.frame
		offset := now.Sub(jb.epoch) - due
		jb.offset = min(jb.offset, offset)
		if jb.transitN < jbWindowPulls || offset < jb.aim {
			jb.hold = jbPhaseHold
			jb.stallSeen = true
		}
		jb.owed = min(jb.owed+1, jbSlots)
		jb.stalls++
		jb.excess += jb.frame // the playout is a frame later now
		if jb.streak++; jb.streak > jbMaxConceal {
			return Silence, nil
		}
		return Conceal, nil
	}
}

// held says whether the packet in sl came with a backlog that a path
// held: its transit exceeds the newest packet's by more than jbGapLate
// (the packets after it came faster than in real time, as a path
// delivers what it held) and by at least half the time the underruns
// concealed (a path's backlog covers the time it held the packets). A
// source that stalled (a microphone that stopped, the switch to another
// device) and sends on in real time did not, beyond the few frames its
// device had buffered: what it sends plays, however late against the
// aim.
func (jb *Buffer) held(sl *jbSlot) bool {
	n := &jb.slots[slot(jb.newest)]
	if !n.ok || n.seq != jb.newest {
		return true
	}
	ahead := sl.arrival.Sub(jb.epoch) - sl.due - (n.arrival.Sub(jb.epoch) - n.due)
	return ahead > jbGapLate && 2*ahead >= time.Duration(jb.owed)*jb.frame
}

// lostWithFEC says whether next is lost (later packets are here) and
// the packet after it is there to rebuild it from.
func (jb *Buffer) lostWithFEC() bool {
	return jb.fec && !jb.present(jb.next) && jb.newest > jb.next && jb.present(jb.next+1)
}

// noteLoss records a loss for the aim: with FEC, the first loss after
// jbLossMemory pulls without raises the aim to the FEC floor (updateAim) at
// once (not at the window's end), so that the next loss finds a spare
// packet; the excess over the aim moves with it.
func (jb *Buffer) noteLoss() {
	clean := jb.sinceLoss >= jbLossMemory
	jb.sinceLoss = 0
	jb.lossAvg += (1 - jb.lossAvg) / jbLossAvg
	if clean && jb.fec {
		old := jb.aim
		jb.updateAim()
		jb.excess -= jb.aim - old
	}
}

// shrink says whether to drop the packet just taken (of size bytes)
// rather than play it: when the playout is at least a frame (and the
// hysteresis) later than its aim and the next packet is there to play
// instead. Silence (a DTX or comfort-noise packet, jbQuietBytes at most)
// goes first: it is dropped whenever there is a frame to gain. Speech is
// dropped one in jbFastEvery plays while the playout is more than
// jbFastExcess frames late (a backlog after a stall), else one a window.
func (jb *Buffer) shrink(size int) bool {
	if jb.excess < jb.frame+jbPhaseHysteresis || !jb.present(jb.next) || jb.gapN > 0 {
		return false
	}
	switch {
	case size <= jbQuietBytes || float64(2*size) <= jb.peakSize:
	case jb.excess > jbFastExcess*jb.frame:
		if jb.sinceDrop < jbFastEvery {
			jb.sinceDrop++
			return false
		}
	case jb.droppedInWindow:
		return false
	}
	jb.droppedInWindow = true
	jb.excess -= jb.frame
	jb.sinceDrop = 1
	return true
}

// endWindow ends a window of plays: it recomputes the aim, and when the
// window's smallest playout offset was short of it (and no underrun
// already delayed the playout by a frame) moves the playout clock later
// by what was missing (at most half a frame); when it was later than the
// aim by less than a frame, earlier by half the excess (not for
// jbPhaseHold windows after an underrun). Whole frames of excess are
// dropped (shrink).
func (jb *Buffer) endWindow() {
	if jb.hold > 0 {
		jb.hold--
	}
	jb.stallSeen, jb.droppedInWindow = false, false
	jb.updateAim()
	offset, last := jb.offset, jb.lastOffset
	jb.offset, jb.lastOffset = noWait, noWait
	if offset == noWait {
		return
	}
	// Later by what the last play was short of the aim (the last, not
	// the window's smallest: underruns since have moved the playout
	// later already).
	if short := jb.aim - min(last, jb.aim); last != noWait && short > jbPhaseHysteresis {
		// Whole frames (to the nearest) by concealing (pullLocked), the
		// rest by the playout clock's phase.
		jb.grow = min(int((short+jb.frame/2)/jb.frame), jbMaxTarget)
		d := short - time.Duration(jb.grow)*jb.frame
		jb.shift += d
		jb.excess = d - short
		jb.shifts++
		return
	}
	jb.excess = offset - jb.aim
	if jb.hold > 0 || jb.excess <= jbPhaseHysteresis || jb.excess >= jb.frame+jbPhaseHysteresis {
		return
	}
	d := min(jb.excess/2, jb.frame/2)
	jb.shift -= d
	jb.excess -= d
	jb.shifts++
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
