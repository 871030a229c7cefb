// Package audio moves 48 kHz mono 16-bit frames (20 ms by default, 10 ms
// selectable) between devices and the rest of peercall: a Source is a
// microphone, a Sink a speaker. Backends are PortAudio (cgo, build tag
// portaudio-free builds omit it) and virtual devices (tone, WAV files,
// silence, null, an in-memory pipe), each clocked or unpaced.
package audio
