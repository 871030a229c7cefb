package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/node"
	"github.com/peercall/peercall/relay"
	"github.com/peercall/peercall/supernode"
)

// runRun runs the node until Ctrl-C (SIGINT) or SIGTERM: presence in the
// DHT, incoming calls (rung, or answered with --auto-answer), and the
// control socket that call, status, answer and hangup talk to.
func runRun(ctx context.Context, e *env, args []string) error {
	const synopsis = "[--relay auto|on|off] [--policy PATH] [--metrics ADDR] [--auto-answer] [--audio-in SPEC] [--audio-out SPEC] [--listen ADDR]"
	fs := newFlagSet(e, "run")
	relayMode := fs.String("relay", "", "super-node role: auto (relay when well connected), on (whenever reachable) or off (never); default relay.mode of config.toml, else auto")
	policy := fs.String("policy", relay.DefaultPolicyPath, "administrator's policy file, which caps or overrides relay settings (a missing file is no policy)")
	metrics := fs.String("metrics", "", "serve Prometheus metrics on this host:port at /metrics (default: none)")
	autoAnswer := fs.Bool("auto-answer", false, "accept every incoming call from a certified user")
	in := fs.String("audio-in", "default", "microphone `SPEC`: "+audio.SpecForms)
	out := fs.String("audio-out", "default", "speaker `SPEC`: "+audio.SpecForms)
	uiAddr := fs.String("ui", "", "web interface `HOST:PORT` on loopback (default ui.listen of config.toml, 127.0.0.1:7080); off for none")
	listen := fs.String("listen", "", "libp2p host:port, TCP and QUIC (default network.listen, 0.0.0.0:7070)")
	noFEC := fs.Bool("no-fec", false, "send without Opus in-band FEC (losses are then only concealed); for measuring what FEC gains")
	pos, err := parseArgs(e, fs, args, synopsis)
	if err != nil {
		return err
	}
	if err := exactArgs(fs, pos, 0, synopsis); err != nil {
		return err
	}
	switch *relayMode {
	case "", "auto", "on", "off":
	default:
		return usageErrorf("run: --relay %q is not one of auto, on, off", *relayMode)
	}
	inSpec, err := absSpec(*in)
	if err != nil {
		return usageErrorf("run: --audio-in: %v", err)
	}
	outSpec, err := absSpec(*out)
	if err != nil {
		return usageErrorf("run: --audio-out: %v", err)
	}
	hm, err := e.openHome()
	if err != nil {
		return err
	}
	p := &callPrinter{w: e.stdout, autoAnswer: *autoAnswer}
	opts := node.Options{
		AutoAnswer:  *autoAnswer,
		AudioIn:     inSpec,
		AudioOut:    outSpec,
		Logger:      e.log,
		Relay:       supernode.Options{Mode: relay.Mode(*relayMode), PolicyPath: *policy, CPULoad: cpuLoadHook, SameHostPeers: sameHostPeersHook},
		MetricsAddr: *metrics,
		OnCall: func(ev call.Event) {
			if ev.Kind == call.EventEnded {
				p.summary(ev.Result)
				return
			}
			p.event(ev.Kind, ev.Call)
		},
	}
	if *listen != "" {
		opts.Listen = []string{*listen}
	}
	opts.Media.DisableFEC = *noFEC
	opts.Softphone = runSoftphoneOptions(*uiAddr)
	warnAudio(ctx, e, inSpec, outSpec)
	n, err := node.New(ctx, hm, opts)
	if err != nil {
		if errors.Is(err, home.ErrCertificate) || errors.Is(err, home.ErrNodeRunning) {
			return &userError{msg: err.Error(), err: err}
		}
		return err
	}
	st := n.Status()
	p.line("peercall node running as %s (peer %s)", st.Username, st.PeerID)
	for _, a := range st.Addrs {
		p.line("  listening on %s", a)
	}
	answer := "incoming calls ring; answer with `peercall answer`"
	if *autoAnswer {
		answer = "incoming calls are answered automatically"
	}
	p.line("role %s (%s); %s; audio in %s, out %s", st.Role, st.RoleReason, answer, orDefault(inSpec), orDefault(outSpec))
	if u := n.UIURL(); u != "" {
		p.line("web interface %s: open it with `peercall ui`", u)
	}
	p.line("control socket %s; press Ctrl-C to stop", hm.Path(home.ControlSocket))
	<-ctx.Done()
	p.line("stopping: hanging up and signing off…")
	if err := n.Close(); err != nil {
		return fmt.Errorf("stop the node: %w", err)
	}
	p.line("stopped")
	return nil
}

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

// warnAudio says at start when the devices calls will use cannot work
// (a missing sound card, a named pipe for a WAV file): a node still runs
// without them, for presence and relaying, but its calls would fail.
func warnAudio(ctx context.Context, e *env, in, out string) {
	check := func(flag, s string, f func(context.Context, audio.Spec) error) {
		spec, err := audio.ParseSpec(orDefault(s))
		if err == nil {
			err = f(ctx, spec)
		}
		if err != nil {
			e.log.Warn("calls will fail until this is fixed: "+flag+" cannot be used", "err", err)
		}
	}
	check("--audio-in", in, audio.CheckSource)
	check("--audio-out", out, audio.CheckSink)
}
