// Package signalling is the peercall call protocol over libp2p streams
// (/peercall/signal/1): versioned, length-prefixed messages with a size limit
// and a strict decoder, and the call state machine (invite, ringing, accept,
// reject, busy, cancel, hangup, ICE restart, timeouts, glare resolution).
package signalling
