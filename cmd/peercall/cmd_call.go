package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/media"
	"github.com/peercall/peercall/node"
	"github.com/peercall/peercall/presence"
	"github.com/peercall/peercall/relay"
	"github.com/peercall/peercall/supernode"
	"github.com/peercall/peercall/voicemail"
)

// runCall calls a user by name through the running node, or through a node
// started for the call's length when none runs.
func runCall(ctx context.Context, e *env, args []string) error {
	const synopsis = "NAME [--duration D] [--audio-in SPEC] [--audio-out SPEC] [--force-relay] [--no-aec] [--no-ns] [--no-agc] [--no-hpf] [--voicemail-on-miss] [--json]"
	fs := newFlagSet(e, "call")
	duration := fs.Duration("duration", 0, "hang up after this long once connected (0: until Ctrl-C)")
	in := fs.String("audio-in", "", "microphone `SPEC`: "+audio.SpecForms+" (default: the node's, else default)")
	out := fs.String("audio-out", "", "speaker `SPEC`: "+audio.SpecForms+" (default: the node's, else default)")
	asJSON := fs.Bool("json", false, "print the call summary as one JSON object")
	forceRelay := fs.Bool("force-relay", false, "send the audio through a super-node's TURN relay only (ICE transport policy relay)")
	noAEC := fs.Bool("no-aec", false, "no echo cancellation on this call's microphone (config: audio.echo_cancellation)")
	noNS := fs.Bool("no-ns", false, "no noise suppression on this call's microphone (config: audio.noise_suppression)")
	noAGC := fs.Bool("no-agc", false, "no automatic gain control on this call's microphone (config: audio.auto_gain)")
	noHPF := fs.Bool("no-hpf", false, "no high-pass filter on this call's microphone (config: audio.high_pass)")
	vmOnMiss := fs.Bool("voicemail-on-miss", false, "when the call is not answered, refused, busy or NAME is offline, record a voice message from --audio-in")
	pos, err := parseArgs(e, fs, args, synopsis)
	if err != nil {
		return err
	}
	if err := exactArgs(fs, pos, 1, synopsis); err != nil {
		return err
	}
	if *duration < 0 {
		return usageErrorf("call: --duration %v is negative", *duration)
	}
	inSpec, err := absSpec(*in)
	if err != nil {
		return usageErrorf("call: --audio-in: %v", err)
	}
	outSpec, err := absSpec(*out)
	if err != nil {
		return usageErrorf("call: --audio-out: %v", err)
	}
	var dspOff []string
	for _, o := range []struct {
		off   bool
		stage string
	}{{*noAEC, call.StageAEC}, {*noNS, call.StageNS}, {*noAGC, call.StageAGC}, {*noHPF, call.StageHPF}} {
		if o.off {
			dspOff = append(dspOff, o.stage)
		}
	}
	hm, err := e.openHome()
	if err != nil {
		return err
	}
	p := &callPrinter{w: e.stdout, quiet: *asJSON}
	var res *call.Result
	if cc, derr := control.Dial(hm); derr == nil {
		req := control.Request{Op: control.OpCall, Name: pos[0], DurationMs: duration.Milliseconds(), AudioIn: inSpec, AudioOut: outSpec,
			ForceRelay: *forceRelay, DSPOff: dspOff}
		p.line("calling %s through the running node…", pos[0])
		var resp *control.Response
		resp, err = cc.Call(ctx, req, func(r control.Response) {
			if r.Call != nil {
				p.event(r.Event, *r.Call)
			}
		})
		if resp != nil {
			res = resp.Result
		}
	} else {
		res, err = callWithOwnNode(ctx, e, hm, pos[0], call.Options{
			Duration: *duration, AudioIn: inSpec, AudioOut: outSpec, ForceRelay: *forceRelay, DSPOff: dspOff,
			OnEvent: func(ev call.Event) { p.event(ev.Kind, ev.Call) },
		}, p)
	}
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = &userError{msg: fmt.Sprintf("call to %s cancelled before it rang", pos[0]), err: err}
		}
		err = callError(pos[0], err)
		if missed := errors.Is(err, call.ErrNoAnswer) || errors.Is(err, call.ErrBusy) || errors.Is(err, call.ErrRejected) || errors.Is(err, presence.ErrUserOffline); *vmOnMiss && missed {
			fmt.Fprintf(e.stderr, "%v\n", err)
			return leaveVoicemail(ctx, e, pos[0], cmp.Or(inSpec, "default"), voicemail.MaxLength, *asJSON)
		}
		if *asJSON {
			return e.printJSONError(err)
		}
		return err
	}
	if *asJSON {
		return e.printJSON(res.Summary)
	}
	p.summary(res)
	return nil
}

// callWithOwnNode starts a node on the home (on free ports if the
// configured one is taken), places the call and closes the node.
func callWithOwnNode(ctx context.Context, e *env, hm *home.Home, name string, o call.Options, p *callPrinter) (*call.Result, error) {
	p.line("no node runs on %s; starting one for this call…", hm.Dir())
	n, err := node.New(ctx, hm, node.Options{
		FreePortFallback: true,
		NoPresence:       true,
		Logger:           e.log,
		// A node run for one call never relays for others.
		Relay: supernode.Options{Mode: relay.ModeOff},
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := n.Close(); cerr != nil {
			e.log.Warn("close node", "err", cerr)
		}
	}()
	p.line("calling %s…", name)
	return n.Call(ctx, name, o)
}

// callError rewrites lookup and call failures for the user.
func callError(name string, err error) error {
	switch {
	case errors.Is(err, presence.ErrUnknownUser):
		return &userError{msg: fmt.Sprintf("%v\nNo user %q: check the name with `peercall users %s`.", err, name, name), err: err}
	case errors.Is(err, presence.ErrUserOffline):
		return &userError{msg: fmt.Sprintf("%s is offline: %v", name, err), err: err}
	case errors.Is(err, home.ErrCertificate):
		return &userError{msg: fmt.Sprintf("%v", err), err: err}
	case errors.Is(err, home.ErrNodeRunning):
		return &userError{msg: fmt.Sprintf("%v", err), err: err}
	}
	return err
}

// absSpec checks an audio spec and makes a wav: path absolute, since the
// running node has another working directory.
func absSpec(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	spec, err := audio.ParseSpec(s)
	if err != nil {
		return "", err
	}
	if spec.Kind == audio.KindWAV && !filepath.IsAbs(spec.Path) {
		abs, err := filepath.Abs(spec.Path)
		if err != nil {
			return "", fmt.Errorf("%s: %w", s, err)
		}
		spec.Path = abs
	}
	return spec.String(), nil
}

// callPrinter prints a call's progress for humans (nothing with --json).
type callPrinter struct {
	mu         sync.Mutex
	w          io.Writer
	quiet      bool
	autoAnswer bool // run --auto-answer
}

func (p *callPrinter) line(format string, args ...any) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *callPrinter) event(kind call.EventKind, c call.Info) {
	switch kind {
	case call.EventRinging:
		p.line("ringing %s…", c.Peer)
	case call.EventIncoming:
		if p.autoAnswer {
			p.line("incoming call from %s (call %s), answering", c.Peer, c.CallID)
			return
		}
		p.line("incoming call from %s (call %s); answer with `peercall answer`, decline with `peercall reject`", c.Peer, c.CallID)
	case call.EventConnected:
		p.line("connected to %s (%s route)\nshort authentication string: %s — read it to %s; if theirs differs, someone is in the middle",
			c.Peer, orDirect(c.Route), c.SAS, c.Peer)
	case call.EventReconnecting:
		p.line("reconnecting to %s (a network changed)…", c.Peer)
	case call.EventReconnected:
		p.line("reconnected to %s (%s route)", c.Peer, orDirect(c.Route))
	case call.EventMedia:
		p.line("call with %s: %s", c.Peer, audioWords(c))
	}
}

func orDirect(route media.RouteKind) media.RouteKind {
	if route == media.RouteNone {
		return media.RouteDirect
	}
	return route
}

// summary prints the end of a call.
func (p *callPrinter) summary(res *call.Result) {
	if p.quiet || res == nil {
		return
	}
	s := res.Summary
	var b strings.Builder
	fmt.Fprintf(&b, "call with %s ended: %s", s.Peer, res.End)
	if res.Detail != "" {
		fmt.Fprintf(&b, " (%s)", res.Detail)
	}
	if res.Connected {
		fmt.Fprintf(&b, "\n  call id %s, route %s, setup %.0f ms, duration %.1f s", s.CallID, s.Route, s.SetupMs, s.DurationS)
		if s.HeldS > 0 {
			fmt.Fprintf(&b, " (%.1f s on hold)", s.HeldS)
		}
		fmt.Fprintf(&b, "\n  packets sent %d, received %d, loss %.1f %%, jitter %.1f ms, rtt %.1f ms", s.PacketsSent, s.PacketsReceived, 100*s.Loss, s.JitterMs, s.RTTMs)
		if s.MOS > 0 && s.Quality != nil {
			fmt.Fprintf(&b, "\n  estimated MOS %.2f (delay %.0f ms, concealed %.1f %%)", s.MOS, s.Quality.OneWayDelayMs, 100*s.Quality.Loss)
		}
		if s.DSP != nil {
			fmt.Fprintf(&b, "\n  microphone processing %s", strings.Join(s.DSP.Stages, ", "))
			if s.DSP.EchoDelayMs >= 0 {
				fmt.Fprintf(&b, ", echo delay %.0f ms", s.DSP.EchoDelayMs)
			}
		}
		fmt.Fprintf(&b, "\n  short authentication string %s", res.SAS)
	}
	p.line("%s", b.String())
}
