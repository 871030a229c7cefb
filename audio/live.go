package audio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Directions of a live device, as DeviceEvent names them.
const (
	DirIn  = "in"
	DirOut = "out"
)

// Reasons a live device changed, as DeviceEvent names them.
const (
	ReasonFailed   = "failed"   // the device failed or disappeared: a fallback took over
	ReasonBack     = "back"     // the device asked for is back
	ReasonSwitched = "switched" // Switch moved to another device
)

// DeviceEvent says that a live device changed what it uses.
type DeviceEvent struct {
	Dir     string `json:"dir"`               // DirIn or DirOut
	Want    string `json:"want"`              // the spec asked for
	Using   string `json:"using"`             // the spec in use now
	Reason  string `json:"reason"`            // ReasonFailed, ReasonBack or ReasonSwitched
	Detail  string `json:"detail,omitempty"`  // the failure, for ReasonFailed
	Warning string `json:"warning,omitempty"` // set while Using is not Want
}

// DeviceState is what a live device uses now.
type DeviceState struct {
	Want    string `json:"want"`
	Using   string `json:"using"`
	Warning string `json:"warning,omitempty"`
}

// LiveOptions tune OpenLiveSource and OpenLiveSink.
type LiveOptions struct {
	Options
	// OnChange is told every change of device (a failure and its
	// fallback, a return, a switch). It must not block.
	OnChange func(DeviceEvent)
}

// A live device is a call's microphone or speaker that survives its
// device: when the device fails or disappears, the system default takes
// over (or, failing that, silence, paced in real time) and a warning is
// set; when PortAudio sees the device again (see the host watcher), it
// returns; Switch moves to another device with a gap of one device open.
// Close closes whatever device is in use.
type live[T io.Closer] struct {
	dir      string
	opts     Options
	onChange func(DeviceEvent)
	open     func(context.Context, Spec) (T, error)
	silent   func() T // the last resort: silence or a null sink, paced

	mu      sync.Mutex
	want    Spec
	using   Spec
	cur     T
	gen     uint64 // bumped at each change of cur
	warning string
	closed  bool
	wg      sync.WaitGroup // closes of replaced devices
}

// LiveSource is a microphone that survives its device (see OpenLiveSource).
type LiveSource struct{ live[Source] }

// LiveSink is a speaker that survives its device (see OpenLiveSink).
type LiveSink struct{ live[Sink] }

// OpenLiveSource opens spec as a microphone (as OpenSource) that falls
// back to the system default, then to silence, when its device fails,
// and returns to it when it is back. A source that ends (io.EOF, a WAV
// file) ends the live source too.
func OpenLiveSource(ctx context.Context, spec Spec, opts LiveOptions) (*LiveSource, error) {
	o, err := opts.Options.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open audio source %s: %w", spec, err)
	}
	l := &LiveSource{live[Source]{dir: DirIn, opts: o, onChange: opts.OnChange,
		open:   func(ctx context.Context, s Spec) (Source, error) { return OpenSource(ctx, s, o) },
		silent: func() Source { return Paced(NewSilence(), o.FrameDuration) },
	}}
	if err := l.start(ctx, spec); err != nil {
		return nil, err
	}
	return l, nil
}

// OpenLiveSink opens spec as a speaker (as OpenSink) that falls back to
// the system default, then to a null sink, when its device fails, and
// returns to it when it is back.
func OpenLiveSink(ctx context.Context, spec Spec, opts LiveOptions) (*LiveSink, error) {
	o, err := opts.Options.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open audio sink %s: %w", spec, err)
	}
	l := &LiveSink{live[Sink]{dir: DirOut, opts: o, onChange: opts.OnChange,
		open:   func(ctx context.Context, s Spec) (Sink, error) { return OpenSink(ctx, s, o) },
		silent: func() Sink { return PacedSink(NewNull(), o.FrameDuration) },
	}}
	if err := l.start(ctx, spec); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *live[T]) start(ctx context.Context, spec Spec) error {
	d, err := l.open(ctx, spec)
	if err != nil {
		return err
	}
	l.want, l.using, l.cur = spec, spec, d
	host.add(l)
	return nil
}

func (l *live[T]) current() (T, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur, l.gen
}

// State says what the device uses now.
func (l *live[T]) State() DeviceState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return DeviceState{Want: l.want.String(), Using: l.using.String(), Warning: l.warning}
}

// onFallback reports whether the device in use is not the one asked for.
func (l *live[T]) onFallback() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.closed && l.using != l.want
}

// replace puts d (spec using) in place of the device of generation gen and
// closes the old one in the background; false (and d closed) when another
// change or Close came first.
func (l *live[T]) replace(gen uint64, d T, using Spec, warning string) bool {
	l.mu.Lock()
	if l.closed || l.gen != gen {
		l.mu.Unlock()
		_ = d.Close()
		return false
	}
	old := l.cur
	l.cur, l.using, l.warning = d, using, warning
	l.gen++
	l.wg.Add(1)
	l.mu.Unlock()
	go func() { // a failed device may take StallTimeout to let go
		defer l.wg.Done()
		_ = old.Close()
	}()
	return true
}

func (l *live[T]) emit(ev DeviceEvent) {
	if l.onChange != nil {
		l.onChange(ev)
	}
}

func (l *live[T]) what() string {
	if l.dir == DirIn {
		return "microphone"
	}
	return "speaker"
}

// failover replaces the device of generation gen, which failed with
// cause: by the system default when the failed one was another sound
// card, else by silence.
func (l *live[T]) failover(ctx context.Context, gen uint64, cause error) {
	l.mu.Lock()
	if l.closed || l.gen != gen {
		l.mu.Unlock()
		return
	}
	want, failed := l.want, l.using
	l.mu.Unlock()
	l.opts.Logger.Warn("audio device failed; falling back", "dir", l.dir, "device", failed.String(), "err", cause)
	var d T
	using := Spec{Kind: KindSilence}
	if l.dir == DirOut {
		using = Spec{Kind: KindNull}
	}
	if failed.Kind != KindDefault && (failed.Kind == KindPortAudio || want.Kind == KindPortAudio || want.Kind == KindDefault) {
		if dd, err := l.open(ctx, Spec{Kind: KindDefault}); err == nil {
			d, using = dd, Spec{Kind: KindDefault}
		} else {
			l.opts.Logger.Warn("the system default audio device is not there either", "dir", l.dir, "err", err)
		}
	}
	if using.Kind != KindDefault {
		d = l.silent()
	}
	warning := fmt.Sprintf("%s %s failed (%v); using %s until it is back", l.what(), want, cause, using)
	if l.replace(gen, d, using, warning) {
		l.emit(DeviceEvent{Dir: l.dir, Want: want.String(), Using: using.String(), Reason: ReasonFailed, Detail: cause.Error(), Warning: warning})
	}
}

// Switch moves to spec: it opens spec first, then swaps, so the gap is
// the time of one device open. spec becomes the device asked for.
func (l *live[T]) Switch(ctx context.Context, spec Spec) error {
	d, err := l.open(ctx, spec)
	if err != nil && soundCard(spec) {
		// Perhaps plugged in after PortAudio was initialised: look again.
		host.rescan(ctx)
		d, err = l.open(ctx, spec)
	}
	if err != nil {
		return fmt.Errorf("switch %s to %s: %w", l.what(), spec, err)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = d.Close()
		return ErrClosed
	}
	gen := l.gen
	l.want = spec
	l.mu.Unlock()
	if l.replace(gen, d, spec, "") {
		l.emit(DeviceEvent{Dir: l.dir, Want: spec.String(), Using: spec.String(), Reason: ReasonSwitched})
		return nil
	}
	return fmt.Errorf("switch %s to %s: the device changed meanwhile; try again", l.what(), spec)
}

// suspend closes a sound card in use (for PortAudio to be re-initialised)
// and puts silence in its place; it reports whether resume must run: a
// card was closed, or the device is on a fallback.
func (l *live[T]) suspend() bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	if !soundCard(l.using) {
		fallback := l.using != l.want
		l.mu.Unlock()
		return fallback
	}
	old := l.cur
	l.cur = l.silent()
	l.gen++
	l.mu.Unlock()
	_ = old.Close() // synchronously: no stream may stay open across Pa_Terminate
	return true
}

func soundCard(s Spec) bool { return s.Kind == KindDefault || s.Kind == KindPortAudio }

// resume reopens the device asked for after a re-initialisation, else
// the system default, else silence.
func (l *live[T]) resume(ctx context.Context) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	want, was, gen := l.want, l.using, l.gen
	l.mu.Unlock()
	if d, err := l.open(ctx, want); err == nil {
		if l.replace(gen, d, want, "") && was != want {
			l.opts.Logger.Info("audio device is back", "dir", l.dir, "device", want.String())
			l.emit(DeviceEvent{Dir: l.dir, Want: want.String(), Using: want.String(), Reason: ReasonBack})
		}
		return
	}
	if !soundCard(was) {
		return // on silence still
	}
	if d, err := l.open(ctx, was); err == nil {
		l.mu.Lock()
		warning := l.warning
		l.mu.Unlock()
		l.replace(gen, d, was, warning)
		return
	}
	// What was in use is gone too.
	l.failover(ctx, gen, fmt.Errorf("%s is not there after PortAudio was re-initialised", was))
}

// Close closes the device in use and waits for the ones replaced.
func (l *live[T]) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	cur := l.cur
	l.mu.Unlock()
	host.remove(l)
	err := cur.Close()
	l.wg.Wait()
	return err
}

// Latency is the latency of the device in use (see dsp.LatencyReporter).
func (l *live[T]) Latency() time.Duration {
	cur, _ := l.current()
	if r, ok := any(cur).(interface{ Latency() time.Duration }); ok {
		return r.Latency()
	}
	return 0
}

// Stats is the counters of the device in use, zero for a virtual one.
func (l *live[T]) Stats() DeviceStats {
	cur, _ := l.current()
	if r, ok := any(cur).(StatsReporter); ok {
		return r.Stats()
	}
	return DeviceStats{}
}

// maxFailovers bounds the devices one Read or Write tries: a device, the
// default, silence.
const maxFailovers = 4

// Read reads a frame from the device in use; a device that fails is
// replaced (see OpenLiveSource) and the frame read from its replacement.
func (s *LiveSource) Read(ctx context.Context, frame []int16) error {
	for range maxFailovers {
		cur, gen := s.current()
		err := cur.Read(ctx, frame)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, io.EOF):
			return err
		}
		if _, g := s.current(); g != gen {
			continue // replaced meanwhile (a switch, a re-initialisation)
		}
		if errors.Is(err, ErrClosed) {
			return err
		}
		s.failover(ctx, gen, err)
	}
	clear(frame)
	return nil
}

// Write plays a frame on the device in use; a device that fails is
// replaced (see OpenLiveSink) and the frame played on its replacement.
func (s *LiveSink) Write(ctx context.Context, frame []int16) error {
	for range maxFailovers {
		cur, gen := s.current()
		err := cur.Write(ctx, frame)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		}
		if _, g := s.current(); g != gen {
			continue
		}
		if errors.Is(err, ErrClosed) {
			return err
		}
		s.failover(ctx, gen, err)
	}
	return nil
}

// SwitchSpec parses spec and switches to it (see Switch).
func (l *live[T]) SwitchSpec(ctx context.Context, spec string) error {
	s, err := ParseSpec(spec)
	if err != nil {
		return err
	}
	return l.Switch(ctx, s)
}
