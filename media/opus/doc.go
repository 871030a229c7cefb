// Package opus is the call's Opus codec: libopus through cgo (a small C
// face, opus_shim.h, over its variadic ctl calls), or, in a build with
// CGO_ENABLED=0, the pure-Go gopus with the same API.
//
// libopus is the reference implementation and about a fifth of gopus's CPU
// for the same frames (BenchmarkCodec in package media): the encoder was
// the largest single cost of a call. Both produce standard Opus packets,
// so the two ends of a call need not be built alike.
package opus
