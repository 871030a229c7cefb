package main

import (
	"context"
	"fmt"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/voicemail"
)

const (
	voicemailSynopsis = "NAME [--audio-in SPEC] [--duration D] [--json]"
	playSynopsis      = "ID [--audio-out SPEC]"
)

// runVoicemail records a voice message through the microphone's
// processing of calls and sends it through the running node's chat (its
// outbox, while NAME is offline).
func runVoicemail(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "voicemail")
	asJSON := fs.Bool("json", false, "print the message sent as one JSON object")
	audioIn := fs.String("audio-in", "default", "microphone: a device spec (see `peercall devices`, wav:FILE, tone:HZ)")
	dur := fs.Duration("duration", voicemail.MaxLength, "the longest recording (at most 20s); Ctrl-C stops sooner")
	pos, err := parseArgs(e, fs, args, voicemailSynopsis)
	if err != nil {
		return err
	}
	if err := exactArgs(fs, pos, 1, voicemailSynopsis); err != nil {
		return err
	}
	if *dur <= 0 || *dur > voicemail.MaxLength {
		return usageErrorf("--duration %v: use 1s..%v", *dur, voicemail.MaxLength)
	}
	err = leaveVoicemail(ctx, e, pos[0], *audioIn, *dur, *asJSON)
	if err != nil && *asJSON {
		return e.printJSONError(err)
	}
	return err
}

// leaveVoicemail records from audioIn for at most dur (or until ctx ends)
// and sends the message to name.
func leaveVoicemail(ctx context.Context, e *env, name, audioIn string, dur time.Duration, asJSON bool) error {
	spec, err := audio.ParseSpec(audioIn)
	if err != nil {
		return usageErrorf("--audio-in: %v", err)
	}
	hm, err := e.openHome()
	if err != nil {
		return err
	}
	cfg, err := hm.Config()
	if err != nil {
		return err
	}
	cc, err := control.Dial(hm)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "recording a voice message for %s (at most %v; Ctrl-C ends it)\n", name, dur)
	d, virtual := call.DSPConfig(cfg.AudioSection())
	ogg, length, err := voicemail.RecordDevice(ctx, spec, d, virtual, dur, func(err error) {
		fmt.Fprintf(e.stderr, "recording without noise suppression or gain control: %v\n", err)
	})
	if err != nil {
		return err
	}
	// Ctrl-C ended the recording, not the sending.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	resp, err := cc.Do(sctx, control.Request{Op: control.OpVoicemail, Name: name, Audio: ogg, DurationMs: length.Milliseconds()}, nil)
	if err != nil {
		return err
	}
	if asJSON {
		return e.printJSON(map[string]any{"message": resp.Sent, "delivered": resp.Delivered, "bytes": len(ogg)})
	}
	fmt.Fprintf(e.stdout, "voice message of %.1f s (%d bytes): ", length.Seconds(), len(ogg))
	printSent(e.stdout, name, resp)
	return nil
}

// runPlay plays a voice message (its number in `peercall inbox`).
func runPlay(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "play")
	audioOut := fs.String("audio-out", "default", "speaker: a device spec (see `peercall devices`, wav:FILE, null)")
	pos, err := parseArgs(e, fs, args, playSynopsis)
	if err != nil {
		return err
	}
	if err := exactArgs(fs, pos, 1, playSynopsis); err != nil {
		return err
	}
	var id int64
	if _, err := fmt.Sscan(pos[0], &id); err != nil || id <= 0 {
		return usageErrorf("%q is not a message number; `peercall inbox` lists them", pos[0])
	}
	spec, err := audio.ParseSpec(*audioOut)
	if err != nil {
		return usageErrorf("--audio-out: %v", err)
	}
	resp, err := controlDo(ctx, e, control.Request{Op: control.OpVoiceAudio, MessageID: id})
	if err != nil {
		return err
	}
	if err := voicemail.PlayDevice(ctx, resp.Audio, spec); err != nil {
		return err
	}
	v := resp.Voice // set with Audio
	fmt.Fprintf(e.stdout, "played the voice message from %s of %s (%.1f s)\n", v.Peer, v.Sent.Local().Format("2006-01-02 15:04"), float64(v.DurationMs)/1000)
	return nil
}
