package audio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// StatsReporter is implemented by sound card sources and sinks (those that
// OpenSource and OpenSink return for default and pa:NAME).
type StatsReporter interface {
	Stats() DeviceStats
}

// ErrDeviceStalled is wrapped by the error a sound card Read or Write
// returns when the device has moved no audio for StallTimeout.
var ErrDeviceStalled = errors.New("sound card stopped moving audio")

// StallTimeout is how long a sound card Read or Write waits for the device
// before it gives up with ErrDeviceStalled, and how long Close waits for the
// device's goroutine.
const StallTimeout = 2 * time.Second

// errXrun is what a deviceIO's transfer returns for an input overflow or an
// output underflow: audio was lost or a gap was played, but the stream goes
// on (the buffer was still transferred).
var errXrun = errors.New("xrun")

// deviceIO is one direction of an open sound card stream in the device's own
// rate and channel count: a blocking transfer of one buffer, read into it
// (capture) or written from it (playback). The PortAudio backend implements
// it; keeping the frame plumbing below independent of cgo lets the failure
// paths be tested with a scripted device (see devstream_test.go).
type deviceIO interface {
	buffer() []int16 // interleaved, a whole number of device frames
	transfer() error // blocking; errXrun on overflow/underflow
	rate() int
	channels() int
	name() string
	abort() error // stop now; may be called while transfer blocks
	close() error // release; only once transfer has returned for good
}

// devCommon is what capture and playback share: the goroutine that owns
// the device, its lifetime and counters.
type devCommon struct {
	io   deviceIO
	n    int // samples per frame at SampleRate
	log  *slog.Logger
	done chan struct{} // closed by Close: the goroutine must stop
	dead chan struct{} // closed when the goroutine has ended
	err  error         // why the goroutine ended early; read after dead

	closeOnce sync.Once
	closeErr  error

	// exitMu orders the goroutine's end against a Close that gave up on
	// it: an orphaned device is closed by its goroutine when the transfer
	// it was stuck in returns at last, so that its stream (and its
	// PortAudio reference) does not stay open for good.
	exitMu   sync.Mutex
	orphaned bool

	overruns, underruns, frames atomic.Uint64
}

func (c *devCommon) Stats() DeviceStats {
	return DeviceStats{Overruns: c.overruns.Load(), Underruns: c.underruns.Load(), Frames: c.frames.Load()}
}

// exit ends the device's goroutine: it closes the device itself when
// Close gave up waiting for it.
func (c *devCommon) exit() {
	c.exitMu.Lock()
	defer c.exitMu.Unlock()
	if c.orphaned {
		if err := c.io.close(); err != nil {
			c.log.Warn("closing a sound card that was stuck", "device", c.io.name(), "err", err)
		}
	}
	close(c.dead)
}

// stop ends the goroutine and releases the device. A device stuck inside a
// transfer gets aborted; if even that does not free it within StallTimeout,
// the stream is left to the goroutine, which closes it when the transfer
// returns (closing it under a running transfer would crash the process),
// and Close says so.
func (c *devCommon) stop(what string) error {
	c.closeOnce.Do(func() {
		close(c.done)
		t := time.NewTimer(StallTimeout)
		defer t.Stop()
		select {
		case <-c.dead:
		case <-t.C:
			c.log.Warn("sound card did not stop in time; aborting it", "device", c.io.name(), "dir", what)
			_ = c.io.abort()
			t.Reset(StallTimeout)
			select {
			case <-c.dead:
			case <-t.C:
				c.exitMu.Lock()
				select {
				case <-c.dead: // ended just now: close it below
					c.exitMu.Unlock()
				default:
					c.orphaned = true
					c.exitMu.Unlock()
					c.closeErr = fmt.Errorf("close %s device %q: it is stuck in a transfer; it is closed when the transfer returns: %w", what, c.io.name(), ErrDeviceStalled)
					return
				}
			}
		}
		if err := c.io.close(); err != nil {
			c.closeErr = fmt.Errorf("close %s device %q: %w", what, c.io.name(), err)
		}
	})
	return c.closeErr
}

// deviceSource is a sound card microphone: a goroutine reads the device
// continuously (the device is the clock), converts to mono 48 kHz and hands
// whole frames to Read through a short queue. When Read falls behind, the
// queue fills, the goroutine waits, and the device's own buffer overflows:
// PortAudio reports that and it is counted in Overruns.
type deviceSource struct {
	devCommon
	frames chan []int16
	free   chan []int16
}

// devQueue is the number of frames queued between a device goroutine and
// its user: enough to absorb scheduling jitter, small for latency.
const devQueue = 3

func newDeviceSource(io deviceIO, d time.Duration, log *slog.Logger) *deviceSource {
	s := &deviceSource{
		devCommon: devCommon{io: io, n: SamplesPer(d), log: log, done: make(chan struct{}), dead: make(chan struct{})},
		frames:    make(chan []int16, devQueue+1),
		free:      make(chan []int16, devQueue+1),
	}
	for range devQueue + 1 {
		s.free <- make([]int16, s.n)
	}
	go s.run()
	return s
}

func (s *deviceSource) run() {
	defer s.exit()
	rs := newResampler(s.io.rate(), SampleRate)
	buf, ch := s.io.buffer(), s.io.channels()
	mono := make([]int16, len(buf)/ch)
	var pending []int16
	for {
		select {
		case <-s.done:
			return
		default:
		}
		switch err := s.io.transfer(); {
		case errors.Is(err, errXrun):
			s.overruns.Add(1)
			s.log.Debug("capture overrun: audio was lost", "device", s.io.name())
		case err != nil:
			s.err = fmt.Errorf("capture from %q failed: %w", s.io.name(), err)
			return
		}
		downmixInto(mono, buf, ch)
		pending = rs.process(pending, mono)
		for len(pending) >= s.n {
			var f []int16
			select {
			case f = <-s.free:
			case <-s.done:
				return
			}
			copy(f, pending)
			pending = pending[:copy(pending, pending[s.n:])]
			select {
			case s.frames <- f:
			case <-s.done:
				return
			}
		}
	}
}

func (s *deviceSource) Read(ctx context.Context, frame []int16) error {
	if len(frame) != s.n {
		return fmt.Errorf("audio frame of %d samples, want %d", len(frame), s.n)
	}
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	t := time.NewTimer(StallTimeout)
	defer t.Stop()
	var f []int16
	select {
	case f = <-s.frames:
	case <-s.dead:
		select { // frames captured before the failure come first
		case f = <-s.frames:
		default:
			if s.err == nil {
				return ErrClosed
			}
			return s.err
		}
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done: // closed meanwhile (a live device moved to another)
		return ErrClosed
	case <-t.C:
		return fmt.Errorf("capture from %q: no audio for %v: %w", s.io.name(), StallTimeout, ErrDeviceStalled)
	}
	copy(frame, f)
	s.free <- f
	s.devCommon.frames.Add(1)
	return nil
}

func (s *deviceSource) Close() error { return s.stop("capture") }

// deviceSink is a sound card speaker: Write queues the frame; a goroutine
// converts frames to the device's rate and channels and writes them. Write
// blocks while the queue is full, so the device paces its writer. A writer
// that comes late leaves the device without audio: PortAudio reports an
// underflow (the gap is heard) and it is counted in Underruns. Close plays
// out the frames still queued (at most devQueue+1) before it stops the
// device.
type deviceSink struct {
	devCommon
	frames chan []int16
	free   chan []int16
}

func newDeviceSink(io deviceIO, d time.Duration, log *slog.Logger) *deviceSink {
	s := &deviceSink{
		devCommon: devCommon{io: io, n: SamplesPer(d), log: log, done: make(chan struct{}), dead: make(chan struct{})},
		frames:    make(chan []int16, devQueue+1),
		free:      make(chan []int16, devQueue+1),
	}
	for range devQueue + 1 {
		s.free <- make([]int16, s.n)
	}
	go s.run()
	return s
}

func (s *deviceSink) run() {
	defer s.exit()
	rs := newResampler(SampleRate, s.io.rate())
	buf, ch := s.io.buffer(), s.io.channels()
	devN := len(buf) / ch
	var pending []int16
	for {
		closing := false
		select {
		case f := <-s.frames:
			pending = rs.process(pending, f)
			s.free <- f
		case <-s.done:
			// Play out what Write queued, padded to a whole device
			// buffer, then stop.
			closing = true
			for len(s.frames) > 0 {
				f := <-s.frames
				pending = rs.process(pending, f)
				s.free <- f
			}
			if r := len(pending) % devN; r != 0 {
				pending = append(pending, make([]int16, devN-r)...)
			}
		}
		for len(pending) >= devN {
			for i := range devN {
				for c := range ch {
					buf[i*ch+c] = pending[i]
				}
			}
			pending = pending[:copy(pending, pending[devN:])]
			switch err := s.io.transfer(); {
			case errors.Is(err, errXrun):
				s.underruns.Add(1)
				s.log.Debug("playback underrun: a gap was played", "device", s.io.name())
			case err != nil:
				s.err = fmt.Errorf("playback to %q failed: %w", s.io.name(), err)
				return
			}
			s.devCommon.frames.Add(1)
		}
		if closing {
			return
		}
	}
}

func (s *deviceSink) Write(ctx context.Context, frame []int16) error {
	if len(frame) != s.n {
		return fmt.Errorf("audio frame of %d samples, want %d", len(frame), s.n)
	}
	select {
	case <-s.done:
		return ErrClosed
	case <-s.dead:
		return s.deadErr()
	default:
	}
	t := time.NewTimer(StallTimeout)
	defer t.Stop()
	var f []int16
	select {
	case f = <-s.free:
	case <-s.dead:
		return s.deadErr()
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrClosed
	case <-t.C:
		return fmt.Errorf("playback to %q: device took no audio for %v: %w", s.io.name(), StallTimeout, ErrDeviceStalled)
	}
	copy(f, frame)
	s.frames <- f // never blocks: a frame is queued only after taking a free buffer
	return nil
}

func (s *deviceSink) deadErr() error {
	if s.err == nil {
		return ErrClosed
	}
	return s.err
}

func (s *deviceSink) Close() error { return s.stop("playback") }

// downmixInto averages the interleaved channels of src into dst.
func downmixInto(dst, src []int16, ch int) {
	if ch == 1 {
		copy(dst, src)
		return
	}
	for i := range dst {
		sum := 0
		for _, v := range src[i*ch : i*ch+ch] {
			sum += int(v)
		}
		dst[i] = int16(sum / ch)
	}
}
