package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/peercall/peercall/audio"
)

// Directions of a live device, as Event names them.
const (
	DirIn  = "in"
	DirOut = "out"
)

// Reasons a live device changed, as Event names them.
const (
	ReasonFailed   = "failed"   // the device failed or disappeared: a fallback took over
	ReasonBack     = "back"     // the device asked for is back
	ReasonSwitched = "switched" // Switch moved to another device
)

// Event says that a live device changed what it uses.
type Event struct {
	Dir     string `json:"dir"`               // DirIn or DirOut
	Want    string `json:"want"`              // the spec asked for
	Using   string `json:"using"`             // the spec in use now
	Reason  string `json:"reason"`            // ReasonFailed, ReasonBack or ReasonSwitched
	Detail  string `json:"detail,omitempty"`  // the failure, for ReasonFailed
	Warning string `json:"warning,omitempty"` // set while Using is not Want
}

// State is what a live device uses now.
type State struct {
	Want    string `json:"want"`
	Using   string `json:"using"`
	Warning string `json:"warning,omitempty"`
}

// Options tune OpenSource and OpenSink.
type Options struct {
	audio.Options
	// OnChange is told every change of device (a failure and its
	// fallback, a return, a switch). It must not block.
	OnChange func(Event)
}

// A live device is a call's microphone or speaker that survives its
// device: when the device fails or disappears, the system default takes
// over (or, failing that, silence, paced in real time) and a warning is
// set; when PortAudio sees the device again (see the host watcher), it
// returns; Switch moves to another device with a gap of one device open.
// Close closes whatever device is in use.
type live[T io.Closer] struct {
	dir      string
	opts     audio.Options
	onChange func(Event)
	open     func(context.Context, audio.Spec) (T, error)
	silent   func() T // the last resort: silence or a null sink, paced

	mu      sync.Mutex
	want    audio.Spec
	using   audio.Spec
	cur     T
	gen     uint64 // bumped at each change of cur
	warning string
	closed  bool
	wg      sync.WaitGroup // closes of replaced devices
}

// Source is a microphone that survives its device (see OpenSource).
type Source struct{ live[audio.Source] }

// Sink is a speaker that survives its device (see OpenSink).
type Sink struct{ live[audio.Sink] }

// OpenSource opens spec as a microphone (as audio.OpenSource) that falls
// back to the system default, then to silence, when its device fails,
// and returns to it when it is back. A source that ends (io.EOF, a WAV
// file) ends the live source too.
func OpenSource(ctx context.Context, spec audio.Spec, opts Options) (*Source, error) {
	o, err := withDefaults(opts.Options)
	if err != nil {
		return nil, fmt.Errorf("open audio source %s: %w", spec, err)
	}
	l := &Source{live[audio.Source]{dir: DirIn, opts: o, onChange: opts.OnChange,
		open:   func(ctx context.Context, s audio.Spec) (audio.Source, error) { return audio.OpenSource(ctx, s, o) },
		silent: func() audio.Source { return audio.Paced(audio.NewSilence(), o.FrameDuration) },
	}}
	if err := l.start(ctx, spec); err != nil {
		return nil, err
	}
	return l, nil
}

// OpenSink opens spec as a speaker (as audio.OpenSink) that falls back to
// the system default, then to a null sink, when its device fails, and
// returns to it when it is back.
func OpenSink(ctx context.Context, spec audio.Spec, opts Options) (*Sink, error) {
	o, err := withDefaults(opts.Options)
	if err != nil {
		return nil, fmt.Errorf("open audio sink %s: %w", spec, err)
	}
	l := &Sink{live[audio.Sink]{dir: DirOut, opts: o, onChange: opts.OnChange,
		open:   func(ctx context.Context, s audio.Spec) (audio.Sink, error) { return audio.OpenSink(ctx, s, o) },
		silent: func() audio.Sink { return audio.PacedSink(audio.NewNull(), o.FrameDuration) },
	}}
	if err := l.start(ctx, spec); err != nil {
		return nil, err
	}
	return l, nil
}

// withDefaults is audio.Options' defaults: 20 ms frames, no logging.
func withDefaults(o audio.Options) (audio.Options, error) {
	if o.FrameDuration == 0 {
		o.FrameDuration = audio.Frame20ms
	}
	if err := audio.ValidFrameDuration(o.FrameDuration); err != nil {
		return o, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

func (l *live[T]) start(ctx context.Context, spec audio.Spec) error {
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
func (l *live[T]) State() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return State{Want: l.want.String(), Using: l.using.String(), Warning: l.warning}
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
func (l *live[T]) replace(gen uint64, d T, using audio.Spec, warning string) bool {
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

func (l *live[T]) emit(ev Event) {
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
	using := audio.Spec{Kind: audio.KindSilence}
	if l.dir == DirOut {
		using = audio.Spec{Kind: audio.KindNull}
	}
	if failed.Kind != audio.KindDefault && (failed.Kind == audio.KindPortAudio || want.Kind == audio.KindPortAudio || want.Kind == audio.KindDefault) {
		if dd, err := l.open(ctx, audio.Spec{Kind: audio.KindDefault}); err == nil {
			d, using = dd, audio.Spec{Kind: audio.KindDefault}
		} else {
			l.opts.Logger.Warn("the system default audio device is not there either", "dir", l.dir, "err", err)
		}
	}
	if using.Kind != audio.KindDefault {
		d = l.silent()
	}
	warning := fmt.Sprintf("%s %s failed (%v); using %s until it is back", l.what(), want, cause, using)
	if l.replace(gen, d, using, warning) {
		l.emit(Event{Dir: l.dir, Want: want.String(), Using: using.String(), Reason: ReasonFailed, Detail: cause.Error(), Warning: warning})
	}
}

// Switch moves to spec: it opens spec first, then swaps, so the gap is
// the time of one device open. spec becomes the device asked for.
func (l *live[T]) Switch(ctx context.Context, spec audio.Spec) error {
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
		return audio.ErrClosed
	}
	gen := l.gen
	l.want = spec
	l.mu.Unlock()
	if l.replace(gen, d, spec, "") {
		l.emit(Event{Dir: l.dir, Want: spec.String(), Using: spec.String(), Reason: ReasonSwitched})
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

func soundCard(s audio.Spec) bool {
	return s.Kind == audio.KindDefault || s.Kind == audio.KindPortAudio
}

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
			l.emit(Event{Dir: l.dir, Want: want.String(), Using: want.String(), Reason: ReasonBack})
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
func (l *live[T]) Stats() audio.DeviceStats {
	cur, _ := l.current()
	if r, ok := any(cur).(audio.StatsReporter); ok {
		return r.Stats()
	}
	return audio.DeviceStats{}
}

// maxFailovers bounds the devices one Read or Write tries: a device, the
// default, silence.
const maxFailovers = 4

// Read reads a frame from the device in use; a device that fails is
// replaced (see OpenSource) and the frame read from its replacement.
func (s *Source) Read(ctx context.Context, frame []int16) error {
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
		if errors.Is(err, audio.ErrClosed) {
			return err
		}
		s.failover(ctx, gen, err)
	}
	clear(frame)
	return nil
}

// Write plays a frame on the device in use; a device that fails is
// replaced (see OpenSink) and the frame played on its replacement.
func (s *Sink) Write(ctx context.Context, frame []int16) error {
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
		if errors.Is(err, audio.ErrClosed) {
			return err
		}
		s.failover(ctx, gen, err)
	}
	return nil
}

// SwitchSpec parses spec and switches to it (see Switch).
func (l *live[T]) SwitchSpec(ctx context.Context, spec string) error {
	s, err := audio.ParseSpec(spec)
	if err != nil {
		return err
	}
	return l.Switch(ctx, s)
}
