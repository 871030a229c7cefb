// Package transfer sends files between peers over one authenticated stream
// (/peercall/file/1): an offer the receiver accepts or refuses before any
// byte moves, chunks with per-chunk and whole-file SHA-256, resume after an
// interrupted stream or a restart of either side, and on the receiving side
// a quarantine, sanitised names, an optional scan command and the
// administrator's policy.
package transfer
