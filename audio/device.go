package audio

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
)

// ErrNoPortAudio is returned when a PortAudio device is asked of a binary
// built without cgo (and so without PortAudio).
var ErrNoPortAudio = errors.New("this peercall binary was built without cgo, so without PortAudio: no sound card devices; rebuild with CGO_ENABLED=1 and portaudio19-dev installed, or use a virtual device (wav:PATH, tone:HZ, silence, null)")

// DeviceInfo describes one PortAudio device.
type DeviceInfo struct {
	Name              string
	HostAPI           string
	MaxInputChannels  int
	MaxOutputChannels int
	DefaultSampleRate float64
	DefaultInput      bool // the host API's default capture device
	DefaultOutput     bool // the host API's default playback device
}

// DeviceStats counts what happened on a PortAudio stream.
type DeviceStats struct {
	Overruns  uint64 // capture: audio lost because it was not read in time
	Underruns uint64 // playback: gaps because frames came too late
	Frames    uint64 // frames moved
}

// FormatDevices writes devs as a table for `peercall devices`.
func FormatDevices(w io.Writer, devs []DeviceInfo) error {
	if len(devs) == 0 {
		_, err := fmt.Fprintln(w, "no audio devices found")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHOST API\tIN\tOUT\tRATE\tDEFAULT")
	for _, d := range devs {
		def := ""
		switch {
		case d.DefaultInput && d.DefaultOutput:
			def = "in+out"
		case d.DefaultInput:
			def = "in"
		case d.DefaultOutput:
			def = "out"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%g\t%s\n", d.Name, d.HostAPI, d.MaxInputChannels, d.MaxOutputChannels, d.DefaultSampleRate, def)
	}
	return tw.Flush()
}
