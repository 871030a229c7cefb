//go:build cgo

package audio

import (
	"context"
	"errors"
)

// errPortAudioPending is temporary: the PortAudio backend lands in the next commit.
var errPortAudioPending = errors.New("the PortAudio backend is not implemented yet in this build; use a virtual device (wav:PATH, tone:HZ, silence, null)")

// Devices lists the PortAudio devices.
func Devices() ([]DeviceInfo, error) { return nil, errPortAudioPending }

func openPortAudioSource(context.Context, Spec, Options) (Source, error) {
	return nil, errPortAudioPending
}

func openPortAudioSink(context.Context, Spec, Options) (Sink, error) {
	return nil, errPortAudioPending
}
