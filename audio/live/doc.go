// Package live gives a call microphones and speakers that survive their
// sound card: a device that fails or stalls mid-call is replaced by the
// system default (else silence), with a warning and an event, and comes
// back when PortAudio, re-initialised by this package's one owner of that,
// sees it again; Switch moves a live call to another device.
package live
