// Package dsp is the capture-side voice processing of a call: a high-pass
// filter, acoustic echo cancellation against what the speaker actually
// played (render frames placed on a timeline by their playout time, the
// residual echo delay estimated by GCC-PHAT), noise suppression and
// automatic gain control, on 10 ms frames through the WebRTC audio-processing module (cgo). Run feeds
// WAV-file audio through the same Chain for `peercall dsp`.
package dsp
