package main

import (
	"context"
	"fmt"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/control"
)

// runMute, runUnmute, runHold and runResume change a live call's audio:
// peercall mute|unmute|hold|resume [CALL_ID] [--json].
func runMute(ctx context.Context, e *env, args []string) error {
	return mediaAction(ctx, e, args, control.OpMute)
}

func runUnmute(ctx context.Context, e *env, args []string) error {
	return mediaAction(ctx, e, args, control.OpUnmute)
}

func runHold(ctx context.Context, e *env, args []string) error {
	return mediaAction(ctx, e, args, control.OpHold)
}

func runResume(ctx context.Context, e *env, args []string) error {
	return mediaAction(ctx, e, args, control.OpResume)
}

const mediaSynopsis = "[CALL_ID] [--json]"

func mediaAction(ctx context.Context, e *env, args []string, op string) error {
	fs := newFlagSet(e, op)
	jsonFlag := fs.Bool("json", false, "print the call as one JSON object")
	pos, err := parseArgs(e, fs, args, mediaSynopsis)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErrorf("%s takes at most one call id; usage: peercall %s %s", op, op, mediaSynopsis)
	}
	req := control.Request{Op: op}
	if len(pos) == 1 {
		if !control.IsCallID(pos[0]) {
			return usageErrorf("%.40q is not a call id (32 hex digits, as `peercall status` shows); usage: peercall %s %s", pos[0], op, mediaSynopsis)
		}
		req.CallID = pos[0]
	}
	resp, err := controlDo(ctx, e, req)
	if err != nil {
		if *jsonFlag {
			return e.printJSONError(err)
		}
		return err
	}
	if resp.Call == nil {
		return fmt.Errorf("the node answered %s without the call", op)
	}
	if *jsonFlag {
		return e.printJSON(resp.Call)
	}
	fmt.Fprintf(e.stdout, "%s: call %s with %s: %s\n", mediaDone[op], resp.Call.CallID, resp.Call.Peer, audioWords(*resp.Call))
	return nil
}

var mediaDone = map[string]string{
	control.OpMute: "muted", control.OpUnmute: "unmuted", control.OpHold: "held", control.OpResume: "resumed",
}

// audioWords says how a call's audio stands ("audio flows" when neither
// side mutes or holds).
func audioWords(c call.Info) string {
	if c.Audio == "" {
		return "audio flows"
	}
	return c.Audio
}
