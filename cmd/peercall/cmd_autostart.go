package main

import (
	"context"
	"fmt"

	"github.com/peercall/peercall/autostart"
)

// runAutostart turns starting the node with the user's session on or off
// (installing peercall never does), or says which it is.
func runAutostart(ctx context.Context, e *env, args []string) error {
	const synopsis = "[on|off]"
	fs := newFlagSet(e, "autostart")
	pos, err := parseArgs(e, fs, args, synopsis)
	if err != nil {
		return err
	}
	if len(pos) > 1 || len(pos) == 1 && pos[0] != "on" && pos[0] != "off" {
		return usageErrorf("usage: peercall autostart %s", synopsis)
	}
	switch {
	case len(pos) == 0:
		link, err := autostart.Link()
		if err != nil {
			return err
		}
		state := "off"
		if autostart.On() {
			state = "on"
		}
		fmt.Fprintf(e.stdout, "autostart %s (%s)\n", state, link)
	case pos[0] == "off":
		if err := autostart.Disable(ctx); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "autostart off: the node no longer starts with your session (a running one keeps running; stop it with `systemctl --user stop peercall`)")
	default:
		unit, err := autostart.Enable(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "autostart on: the node starts with your session (%s); start it now with `systemctl --user start peercall`\n", unit)
	}
	return nil
}
