// Package voicemail records, encodes and plays voice messages: audio from a
// device spec through the call's microphone processing (package dsp) into
// Opus (60 ms frames, 16 kbit/s speech) in an Ogg file (RFC 7845, pion's
// oggwriter), small enough for one chat frame; and back to a speaker.
package voicemail
