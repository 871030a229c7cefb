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
//   - aims at a margin, in time rather than whole packets: how long the
//     packet that came latest in the last second waited before it played.
//     On a clean path the margin is jbMinMargin (2 ms), well below one
//     frame; it grows with the RFC 3550 interarrival jitter (2 x jitter),
//     and by one frame while losses are recent so that FEC finds the next
//     packet. The whole frames of the margin are spare packets held; the
//     rest is the playout clock's phase, which the buffer moves (earlier
//     when every packet of a second waited longer than the margin, later
//     when one waited less) and the playout loop applies (TakeShift);
//   - grows only by stalling on an underrun (concealing without consuming
//     the late packet, which then still plays);
//   - shrinks slowly: one packet when the spare depth stayed two above the
//     target for a second, or one above for ten seconds, faster (one packet
//     in five) only when it is far too deep after a burst;
//   - holds at most jbSlots packets and skips ahead beyond jbMaxDepth.
package jitterbuf
