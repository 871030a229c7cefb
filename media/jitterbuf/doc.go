// Package jitterbuf is a call's receive-side jitter buffer: it orders the
// RTP packets of one Opus stream by sequence number and decides, at each
// tick of the playout clock, what plays (a packet, its rebuild from the
// next packet's FEC, concealment, silence, or a packet decoded but dropped
// to shrink the delay), and how the playout clock's phase should move.
// Package media feeds it (Push from the receive loop; Pull and TakeShift
// from the playout loop) and turns its decisions into audio.
//
// Why our own jitter buffer: pion/interceptor's pkg/jitterbuffer holds
// packets until a fixed minimum count has arrived and then hands them out
// in sequence order on demand. It has no notion of a playback clock, does
// not say when a packet should be declared lost (so FEC/PLC cannot be
// triggered at the right moment), keeps a fixed depth instead of adapting
// to measured jitter, and does not bound its queue. A voice call needs all
// four, so this package is a small buffer that:
//   - is driven by the playout clock: one pull per packet's worth of audio;
//   - declares a packet lost when a later one is already there at its
//     playout time, and then offers the next packet for FEC;
//   - aims the playout at a high quantile of the measured delay
//     variation, not at a multiple of the RFC 3550 jitter: a packet's
//     transit is its arrival minus its RTP timestamp, and the playout
//     offset aimed at (play time minus timestamp) is the 99.3th
//     percentile of the transits of the last 500 packets (10 s at 20 ms)
//     plus jbMinMargin (2 ms of scheduling), so about 1 % or less comes
//     too late whatever the shape of the variation; while losses are
//     recent (and FEC is on) it is at least a quantile of the transits
//     plus a frame, so that FEC finds the next packet: the median when
//     losses are rare, rising with the loss rate to the 98th percentile at
//     3 % lost (the frame of delay is worth it in proportion to the
//     losses it rebuilds). On a clean path that is 2 ms: well below one
//     frame. (The lab's wan profile, 20 ms of jitter: about 55 ms added
//     and 0.4 % late; bad-wifi, 40 ms: about 104 ms and 0.5 %; dsl, 5 ms
//     and 0.5 % loss: about 22 ms; BenchmarkProfiles. A normal variation
//     needs 2.33 standard deviations for 1 %.)
//   - when an underrun concealed the time of a packet then found lost,
//     rebuilds it from the next packet's FEC and keeps the frame (the
//     playout a frame later) unless that puts the playout a frame beyond
//     its aim; else gives the frame back (below);
//   - moves toward the aim once a window (a second of plays; the first
//     five windows are 10 plays, to find it quickly at the start): the
//     playout clock's phase later by what the last play was short of it
//     (whole frames by concealing without consuming, the rest by a phase
//     shift the playout loop applies, TakeShift), earlier by half what
//     the window's earliest play exceeded it by, below a frame;
//   - drains whole frames of excess (measured over the last 10 plays, so
//     a backlog starts draining within 10 frames, while one late wake-up
//     of the playout clock is no backlog) by dropping packets (decoded,
//     not played): silence first (DTX's 1-byte packets, or without DTX
//     packets of at most half the recent peak size), whenever a frame is
//     to gain; speech one in three plays while
//     more than three frames late, else one a window. Half a second of
//     backlog after a starved receiver drains in 35-80 frames, not the
//     ~320 (6 s) of the buffer before (TestJitterBufferDrainsAfterGap);
//   - at an underrun (nothing to play) conceals without consuming the
//     packet, so that a late packet still plays (the delay grows a
//     frame); when later packets show it lost instead (a burst, a path
//     that stalled) the frames concealed are given back (owed), so the
//     delay does not grow a frame for every packet a burst or a gap
//     takes. Packets a stalled path held and then delivered at once
//     (more than jbGapLate beyond the aim, their time already concealed,
//     and more than jbGapLate and half that time ahead of the newest
//     packet's transit: a backlog) are stale and dropped as late, and
//     their transits are kept out of the window (nothing is dropped to
//     shrink meanwhile) unless jbNewPath of them come in a row (the path
//     is slower now), or jbLevelPath of them lie within jbGapLate of
//     each other: a source that stalled (a microphone that stopped, a
//     switch of device) and sends on in real time, its RTP timestamps
//     behind by the time it lost. Its packets play, the first burst of
//     its device included (TestCallSurvivesCaptureFailure). An underrun
//     holds the phase (no move earlier for 5 s) only while the playout
//     was earlier than its aim;
//   - holds at most jbSlots packets and skips ahead beyond jbMaxDepth.
package jitterbuf
