// Package audio moves 48 kHz mono 16-bit frames (20 ms by default, 10 ms
// selectable) between devices and the rest of peercall: a Source is a
// microphone, a Sink a speaker. ParseSpec reads the device specs of the CLI
// (default, pa:NAME, wav:PATH, tone:HZ, silence, null); OpenSource and
// OpenSink open them. Backends are PortAudio (cgo only; a CGO_ENABLED=0
// build returns ErrNoPortAudio) and virtual devices (tone, WAV files,
// silence, null, an in-memory pipe), unpaced or clocked by Paced/PacedSink.
package audio
