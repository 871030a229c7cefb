package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/audio/live"
	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/control"
)

const deviceSynopsis = "[--in SPEC] [--out SPEC] [CALL_ID]"

// runDevice switches a live call's microphone and/or speaker.
func runDevice(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "device")
	in := fs.String("in", "", "the microphone to switch to: "+audio.SpecForms)
	out := fs.String("out", "", "the speaker to switch to: default, pa:NAME, wav:PATH or null")
	pos, err := parseArgs(e, fs, args, deviceSynopsis)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErrorf("device takes at most one call id; usage: peercall device %s", deviceSynopsis)
	}
	if *in == "" && *out == "" {
		return usageErrorf("name a device with --in or --out; usage: peercall device %s", deviceSynopsis)
	}
	req := control.Request{Op: control.OpDevice}
	for _, side := range []struct {
		flag string
		dst  *string
		val  string
	}{{"--in", &req.AudioIn, *in}, {"--out", &req.AudioOut, *out}} {
		if side.val == "" {
			continue
		}
		if _, err := audio.ParseSpec(side.val); err != nil {
			return usageErrorf("%s: %v", side.flag, err)
		}
		abs, err := absSpec(side.val) // the node runs elsewhere: file paths absolute
		if err != nil {
			return usageErrorf("%s: %v", side.flag, err)
		}
		*side.dst = abs
	}
	if len(pos) == 1 {
		req.CallID = pos[0]
	}
	if _, err := controlDo(ctx, e, req); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "switched")
	return nil
}

// printCallDevices lists which devices the running node's calls use,
// under `peercall devices`; nothing when no node runs or no call goes on.
func printCallDevices(ctx context.Context, e *env) {
	hm, err := e.openHome()
	if err != nil {
		return
	}
	cc, err := control.Dial(hm)
	if err != nil {
		return
	}
	resp, err := cc.Do(ctx, control.Request{Op: control.OpCalls}, nil)
	if err != nil || len(resp.Calls) == 0 {
		return
	}
	fmt.Fprintln(e.stdout)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CALL\tPEER\tMICROPHONE\tSPEAKER\tWARNING")
	show := func(st *live.State) string {
		switch {
		case st == nil:
			return "-"
		case st.Using != st.Want:
			return st.Using + " (for " + st.Want + ")"
		}
		return st.Using
	}
	for _, c := range resp.Calls {
		warn := ""
		for _, st := range []*live.State{c.AudioIn, c.AudioOut} {
			if st != nil && st.Warning != "" {
				if warn != "" {
					warn += "; "
				}
				warn += st.Warning
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.CallID, c.Peer, show(c.AudioIn), show(c.AudioOut), warn)
	}
	tw.Flush()
}

// printDeviceWarnings adds, under a call of `peercall status`, a line for
// each of its devices on a fallback.
func printDeviceWarnings(w io.Writer, c call.Info) {
	for _, st := range []*live.State{c.AudioIn, c.AudioOut} {
		if st != nil && st.Warning != "" {
			fmt.Fprintf(w, "  warning:    %s\n", st.Warning)
		}
	}
}
