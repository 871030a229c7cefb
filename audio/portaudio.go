//go:build cgo

package audio

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/gordonklaus/portaudio"
)

// PortAudio's Initialize and Terminate are process-global, and the Go
// binding keeps unsynchronised globals, so every call that is not a stream's
// own Read or Write goes through paMu, and the library is initialised while
// at least one user (a Devices call or an open stream) holds a reference.
var (
	paMu   sync.Mutex
	paRefs int
)

// paAcquire takes a reference on PortAudio, initialising it if needed.
// Call with paMu held.
func paAcquire() error {
	if paRefs == 0 {
		quietLibraries()
		if err := portaudio.Initialize(); err != nil {
			return fmt.Errorf("initialise PortAudio: %w (is ALSA configured? check ALSA_CONFIG_PATH and ~/.asoundrc)", err)
		}
	}
	paRefs++
	skipBadStreamIDs.Do(func() {
		// The binding hands each stream's small integer id to C as an
		// unsafe.Pointer. Under -race (which turns on checkptr) a value in
		// 1..4095 is a fatal "bad pointer value", so the second stream of a
		// process would crash race-enabled tests. An OpenStream call without
		// buffers takes an id and fails before reaching C, so using up the
		// ids below 4096 this way (well under a millisecond, once per
		// process) keeps every real stream on a value checkptr accepts.
		for range 4096 {
			_, _ = portaudio.OpenStream(portaudio.StreamParameters{})
		}
	})
	return nil
}

var skipBadStreamIDs sync.Once

// paRelease drops a reference, terminating PortAudio with the last one.
// Call with paMu held.
func paRelease() {
	paRefs--
	if paRefs == 0 {
		_ = portaudio.Terminate()
	}
}

// Devices lists the PortAudio devices of every host API.
func Devices() ([]DeviceInfo, error) {
	paMu.Lock()
	defer paMu.Unlock()
	if err := paAcquire(); err != nil {
		return nil, err
	}
	defer paRelease()
	devs, err := portaudio.Devices()
	if err != nil {
		return nil, fmt.Errorf("list PortAudio devices: %w", err)
	}
	return deviceInfos(devs), nil
}

func deviceInfos(devs []*portaudio.DeviceInfo) []DeviceInfo {
	out := make([]DeviceInfo, 0, len(devs))
	for _, d := range devs {
		info := DeviceInfo{
			Name:              d.Name,
			MaxInputChannels:  d.MaxInputChannels,
			MaxOutputChannels: d.MaxOutputChannels,
			DefaultSampleRate: d.DefaultSampleRate,
		}
		if h := d.HostApi; h != nil {
			info.HostAPI = h.Name
			info.DefaultInput = h.DefaultInputDevice != nil && h.DefaultInputDevice.Index == d.Index
			info.DefaultOutput = h.DefaultOutputDevice != nil && h.DefaultOutputDevice.Index == d.Index
		}
		out = append(out, info)
	}
	return out
}

// pickDevice finds the device spec names for capture (input) or playback:
// the host API's default for KindDefault; for pa:NAME the device of that
// exact name, else the one device whose name contains NAME ignoring case.
// Call with paMu held and a reference taken.
func pickDevice(spec Spec, input bool) (*portaudio.DeviceInfo, error) {
	dir, channels := "playback", func(d *portaudio.DeviceInfo) int { return d.MaxOutputChannels }
	if input {
		dir, channels = "capture", func(d *portaudio.DeviceInfo) int { return d.MaxInputChannels }
	}
	if spec.Kind == KindDefault {
		get := portaudio.DefaultOutputDevice
		if input {
			get = portaudio.DefaultInputDevice
		}
		d, err := get()
		if err != nil {
			return nil, fmt.Errorf("no default %s device (%w): pick one with pa:NAME from `peercall devices`, or use a virtual device (wav:PATH, tone:HZ, silence, null)", dir, err)
		}
		return d, nil
	}
	all, err := portaudio.Devices()
	if err != nil {
		return nil, fmt.Errorf("list PortAudio devices: %w", err)
	}
	var usable []*portaudio.DeviceInfo
	for _, d := range all {
		if channels(d) > 0 {
			usable = append(usable, d)
		}
	}
	for _, d := range usable {
		if d.Name == spec.Name {
			return d, nil
		}
	}
	var matches []*portaudio.DeviceInfo
	for _, d := range usable {
		if strings.Contains(strings.ToLower(d.Name), strings.ToLower(spec.Name)) {
			matches = append(matches, d)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		for _, d := range all {
			if d.Name == spec.Name {
				return nil, fmt.Errorf("device %q has no %s channels; %s devices: %s", d.Name, dir, dir, deviceNames(usable))
			}
		}
		if len(usable) == 0 {
			return nil, fmt.Errorf("no %s device is named %q: PortAudio found no %s devices at all (no sound card, or ALSA not configured); use a virtual device (wav:PATH, tone:HZ, silence, null)", dir, spec.Name, dir)
		}
		return nil, fmt.Errorf("no %s device is named %q or contains it; %s devices: %s", dir, spec.Name, dir, deviceNames(usable))
	}
	return nil, fmt.Errorf("%q matches %d %s devices: %s; give more of the name", spec.Name, len(matches), dir, deviceNames(matches))
}

func deviceNames(devs []*portaudio.DeviceInfo) string {
	if len(devs) == 0 {
		return "(none)"
	}
	names := make([]string, len(devs))
	for i, d := range devs {
		names[i] = fmt.Sprintf("%q", d.Name)
	}
	return strings.Join(names, ", ")
}

// paStream is an open blocking PortAudio stream in one direction, at the
// rate and channel count the device accepted, holding a PortAudio reference.
type paStream struct {
	s       *portaudio.Stream
	buf     []int16 // the stream's buffer: devFrames*channels samples, interleaved
	devRate int     // the device's rate
	devCh   int
	devName string
	input   bool
}

// openPAStream opens dev for capture (input) or playback with buffers of
// duration d: at SampleRate mono if the device takes it, else at its default
// rate (the caller resamples) and/or with two channels.
func openPAStream(spec Spec, input bool, d float64) (*paStream, error) {
	paMu.Lock()
	defer paMu.Unlock()
	if err := paAcquire(); err != nil {
		return nil, err
	}
	dev, err := pickDevice(spec, input)
	if err != nil {
		paRelease()
		return nil, err
	}
	maxCh := dev.MaxOutputChannels
	if input {
		maxCh = dev.MaxInputChannels
	}
	rates := []float64{SampleRate}
	if r := dev.DefaultSampleRate; r != SampleRate && r >= 8000 && r <= 192000 && r == math.Trunc(r) {
		rates = append(rates, r)
	}
	var errs []error
	for _, rate := range rates {
		for _, ch := range []int{1, 2} {
			if ch > maxCh {
				continue
			}
			frames := int(math.Round(rate * d))
			st := &paStream{buf: make([]int16, frames*ch), devRate: int(rate), devCh: ch, devName: dev.Name, input: input}
			p := portaudio.StreamParameters{SampleRate: rate, FramesPerBuffer: frames}
			sp := portaudio.StreamDeviceParameters{Device: dev, Channels: ch, Latency: dev.DefaultHighOutputLatency}
			if input {
				sp.Latency = dev.DefaultHighInputLatency
				p.Input = sp
			} else {
				p.Output = sp
			}
			s, err := portaudio.OpenStream(p, &st.buf)
			if err != nil {
				errs = append(errs, fmt.Errorf("%g Hz x %d: %w", rate, ch, err))
				continue
			}
			if err := s.Start(); err != nil {
				s.Close()
				errs = append(errs, fmt.Errorf("start at %g Hz x %d: %w", rate, ch, err))
				continue
			}
			st.s = s
			return st, nil
		}
	}
	paRelease()
	return nil, fmt.Errorf("device %q (%s) refused 16-bit audio at %d Hz and at its default %g Hz: %w", dev.Name, dirName(input), SampleRate, dev.DefaultSampleRate, errors.Join(errs...))
}

func dirName(input bool) string {
	if input {
		return "capture"
	}
	return "playback"
}

// paStream is the deviceIO of the PortAudio backend.
var _ deviceIO = (*paStream)(nil)

func (st *paStream) buffer() []int16 { return st.buf }
func (st *paStream) rate() int       { return st.devRate }
func (st *paStream) channels() int   { return st.devCh }
func (st *paStream) name() string    { return st.devName }

// transfer reads or writes the buffer; it is called only by the device's
// goroutine, so it does not take paMu.
func (st *paStream) transfer() error {
	var err error
	if st.input {
		err = st.s.Read()
	} else {
		err = st.s.Write()
	}
	if errors.Is(err, portaudio.InputOverflowed) || errors.Is(err, portaudio.OutputUnderflowed) {
		return fmt.Errorf("%w: %v", errXrun, err)
	}
	return err
}

func (st *paStream) abort() error {
	return st.s.Abort()
}

// close aborts the stream (queued playback is dropped, not waited for),
// closes it and drops its PortAudio reference.
func (st *paStream) close() error {
	paMu.Lock()
	defer paMu.Unlock()
	err := st.s.Abort()
	if cerr := st.s.Close(); err == nil {
		err = cerr
	}
	paRelease()
	return err
}

func openPortAudioSource(ctx context.Context, spec Spec, opts Options) (Source, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := openPAStream(spec, true, opts.FrameDuration.Seconds())
	if err != nil {
		return nil, err
	}
	return newDeviceSource(st, opts.FrameDuration, opts.Logger), nil
}

func openPortAudioSink(ctx context.Context, spec Spec, opts Options) (Sink, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := openPAStream(spec, false, opts.FrameDuration.Seconds())
	if err != nil {
		return nil, err
	}
	return newDeviceSink(st, opts.FrameDuration, opts.Logger), nil
}

// checkPortAudio looks up the device spec names for capture (input) or
// playback without opening a stream: the check CheckSource and CheckSink
// make before a call.
func checkPortAudio(ctx context.Context, spec Spec, input bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	paMu.Lock()
	defer paMu.Unlock()
	if err := paAcquire(); err != nil {
		return err
	}
	defer paRelease()
	_, err := pickDevice(spec, input)
	return err
}
