package main

import (
	"context"
	"fmt"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/control"
)

// runStatus prints the running node's identity, role and calls.
func runStatus(ctx context.Context, e *env, args []string) error {
	resp, asJSON, err := queryNode(ctx, e, "status", args, control.OpStatus)
	if err != nil {
		return err
	}
	st := resp.Status
	if st == nil {
		return fmt.Errorf("the node answered without a status")
	}
	if st.Calls == nil {
		st.Calls = []call.Info{}
	}
	if asJSON {
		return e.printJSON(st)
	}
	w := e.stdout
	fmt.Fprintf(w, "user:         %s\npeer id:      %s\n", st.Username, st.PeerID)
	fmt.Fprintf(w, "role:         %s (%s)\nreachability: %s\npresence:     %s\n", st.Role, st.RoleReason, st.Reachability, st.Presence)
	if autostartOn() {
		fmt.Fprintln(w, "autostart:    on (the node starts with your session; `peercall autostart off`)")
	} else {
		fmt.Fprintln(w, "autostart:    off")
	}
	if st.Availability != "" {
		fmt.Fprintf(w, "status:       %s%s\n", st.Availability, moodSuffix(st.Mood))
	}
	for _, a := range st.Addrs {
		fmt.Fprintf(w, "address:      %s\n", a)
	}
	if id := st.Identity; id != nil {
		fmt.Fprintf(w, "certificate:  serial %d, expires %s", id.CertificateSerial, id.CertificateExpires.Local().Format(time.DateTime))
		if !id.LastRenewal.IsZero() {
			fmt.Fprintf(w, ", renewed %s", id.LastRenewal.Local().Format(time.DateTime))
		}
		if !id.NextRenewal.IsZero() {
			fmt.Fprintf(w, ", next renewal %s", id.NextRenewal.Local().Format(time.DateTime))
		}
		fmt.Fprintln(w)
		if id.RenewalError != "" {
			fmt.Fprintf(w, "renewal:      failing: %s\n", id.RenewalError)
		}
		switch {
		case id.CheckinError != "":
			fmt.Fprintf(w, "check-in:     failing: %s\n", id.CheckinError)
		case !id.CheckedIn.IsZero():
			fmt.Fprintf(w, "check-in:     %s, listed until %s\n", id.CheckedIn.Local().Format(time.DateTime), id.ListedUntil.Local().Format(time.DateTime))
		}
		switch {
		case id.RevocationsError != "":
			fmt.Fprintf(w, "revocations:  %d known; last fetch failed: %s\n", id.Revocations, id.RevocationsError)
		default:
			fmt.Fprintf(w, "revocations:  %d, fetched %s\n", id.Revocations, id.RevocationsFetched.Local().Format(time.DateTime))
		}
	}
	for _, r := range st.TransferRules {
		fmt.Fprintf(w, "files:        %s\n", r)
	}
	fmt.Fprintf(w, "relay:        %d sessions, %d bytes relayed, %.0f kbit/s\n", st.Relay.Sessions, st.Relay.BytesRelayed, st.Relay.Kbps)
	if len(st.Calls) == 0 {
		fmt.Fprintln(w, "calls:        none")
	}
	for _, c := range st.Calls {
		fmt.Fprintf(w, "call:         %s %s %s, %s since %s", c.CallID, c.Direction, c.Peer, c.State, c.Started.Format("15:04:05"))
		if c.SAS != "" {
			fmt.Fprintf(w, ", SAS %s", c.SAS)
		}
		if c.MOS > 0 {
			fmt.Fprintf(w, ", MOS %.2f", c.MOS)
		}
		if c.Audio != "" {
			fmt.Fprintf(w, ", %s", c.Audio)
		}
		fmt.Fprintln(w)
		printDeviceWarnings(w, c)
	}
	return nil
}

// controlDo sends one request to the node running on the home.
// queryNode runs a command NAME [--json] that asks the running node one
// question (op) and prints its answer; with --json an error is printed as
// JSON too, and asJSON says which way to print the answer.
func queryNode(ctx context.Context, e *env, name string, args []string, op string) (resp *control.Response, asJSON bool, err error) {
	const synopsis = "[--json]"
	fs := newFlagSet(e, name)
	jsonFlag := fs.Bool("json", false, "print one JSON object")
	pos, err := parseArgs(e, fs, args, synopsis)
	if err != nil {
		return nil, false, err
	}
	if err := exactArgs(fs, pos, 0, synopsis); err != nil {
		return nil, false, err
	}
	resp, err = controlDo(ctx, e, control.Request{Op: op})
	if err != nil && *jsonFlag {
		return nil, true, e.printJSONError(err)
	}
	return resp, *jsonFlag, err
}

func controlDo(ctx context.Context, e *env, req control.Request) (*control.Response, error) {
	hm, err := e.openHome()
	if err != nil {
		return nil, err
	}
	cc, err := control.Dial(hm)
	if err != nil {
		return nil, err
	}
	return cc.Do(ctx, req, nil)
}

// runAnswer, runReject and runHangup act on a call of the running node.
func runAnswer(ctx context.Context, e *env, args []string) error {
	return callAction(ctx, e, args, "answer", control.OpAnswer, "answered")
}

func runReject(ctx context.Context, e *env, args []string) error {
	return callAction(ctx, e, args, "reject", control.OpReject, "rejected")
}

func runHangup(ctx context.Context, e *env, args []string) error {
	return callAction(ctx, e, args, "hangup", control.OpHangup, "hung up")
}

func callAction(ctx context.Context, e *env, args []string, name, op, done string) error {
	const synopsis = "[CALL_ID]"
	fs := newFlagSet(e, name)
	pos, err := parseArgs(e, fs, args, synopsis)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErrorf("%s takes at most one call id; usage: peercall %s %s", name, name, synopsis)
	}
	req := control.Request{Op: op}
	if len(pos) == 1 {
		req.CallID = pos[0]
	}
	if _, err := controlDo(ctx, e, req); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, done)
	return nil
}

// runDevices lists the sound card devices PortAudio sees.
func runDevices(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "devices")
	pos, err := parseArgs(e, fs, args, "")
	if err != nil {
		return err
	}
	if err := exactArgs(fs, pos, 0, ""); err != nil {
		return err
	}
	devs, err := audio.Devices()
	if err != nil {
		return fmt.Errorf("list sound devices: %w; virtual devices (%s) work without a sound card", err, audio.SpecForms)
	}
	if err := audio.FormatDevices(e.stdout, devs); err != nil {
		return err
	}
	if msg, n := audio.LibraryMessage(); len(devs) == 0 && n > 0 {
		fmt.Fprintf(e.stdout, "the sound system said: %s (%d messages; -v shows them all)\n", msg, n)
	}
	printCallDevices(ctx, e)
	return nil
}
