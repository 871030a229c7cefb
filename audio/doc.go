// Package audio moves 48 kHz mono 16-bit frames (20 or 10 ms) between
// devices and peercall: a Source is a microphone, a Sink a speaker.
// ParseSpec reads the CLI's device specs; CheckSource/CheckSink validate
// them before a call is dialled, OpenSource/OpenSink open them once it is
// answered. Backends: PortAudio (cgo only, else ErrNoPortAudio) and virtual
// devices (tone, WAV files, silence, null, a pipe), paced by Paced/PacedSink.
package audio
