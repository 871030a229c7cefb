//go:build !cgo

package audio

import (
	"context"
	"log/slog"
)

// Devices lists the PortAudio devices; without cgo there are none.
func Devices() ([]DeviceInfo, error) { return nil, ErrNoPortAudio }

func openPortAudioSource(context.Context, Spec, Options) (Source, error) {
	return nil, ErrNoPortAudio
}

func openPortAudioSink(context.Context, Spec, Options) (Sink, error) {
	return nil, ErrNoPortAudio
}

func checkPortAudio(context.Context, Spec, bool) error { return ErrNoPortAudio }

// SetLibraryLogger does nothing without cgo: no ALSA or JACK is linked.
func SetLibraryLogger(*slog.Logger) {}

// LibraryMessage is empty without cgo.
func LibraryMessage() (string, int) { return "", 0 }
