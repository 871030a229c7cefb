package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/transfer"
)

// runSend sends a file through the running node, with a progress bar on
// stderr.
func runSend(ctx context.Context, e *env, args []string) error {
	const synopsis = "NAME FILE [--json]"
	fs := newFlagSet(e, "send")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	pos, err := parseArgs(e, fs, args, synopsis)
	if err != nil {
		return err
	}
	if err := exactArgs(fs, pos, 2, synopsis); err != nil {
		return err
	}
	path, err := filepath.Abs(pos[1])
	if err != nil {
		return usageErrorf("file %q: %v", pos[1], err)
	}
	hm, err := e.openHome()
	if err != nil {
		return err
	}
	cc, err := control.Dial(hm)
	if err != nil {
		return err
	}
	bar := &progressBar{w: e, start: time.Now()}
	resp, err := cc.Do(ctx, control.Request{Op: control.OpSend, Name: pos[0], Path: path}, func(r control.Response) {
		if r.Transfer != nil && !*asJSON {
			bar.show(*r.Transfer)
		}
	})
	bar.end()
	if err != nil {
		if *asJSON {
			return e.printJSONError(err)
		}
		return err
	}
	rep := resp.Report
	if rep == nil {
		return fmt.Errorf("the node answered without a report")
	}
	if *asJSON {
		return e.printJSON(rep)
	}
	fmt.Fprintf(e.stdout, "sent %s to %s: %d bytes, released as %q", rep.Name, pos[0], rep.Size, rep.Result.Name)
	if rep.ResumedFrom > 0 {
		fmt.Fprintf(e.stdout, " (resumed at %d bytes; %d bytes sent again)", rep.ResumedFrom, rep.Resent)
	}
	fmt.Fprintln(e.stdout)
	return nil
}

// progressBar draws one line on stderr, rewritten in place.
type progressBar struct {
	w     *env
	start time.Time
	drawn bool
}

func (b *progressBar) show(ev transfer.Event) {
	switch ev.State {
	case "progress", "accepted":
	case "offered":
		fmt.Fprintf(b.w.stderr, "offered %s (%d bytes); waiting for the recipient\n", ev.Name, ev.Size)
		return
	case "interrupted":
		b.end()
		fmt.Fprintf(b.w.stderr, "interrupted at %d bytes: %s; retrying\n", ev.Bytes, ev.Reason)
		return
	default:
		return
	}
	frac := 1.0
	if ev.Size > 0 {
		frac = float64(ev.Bytes) / float64(ev.Size)
	}
	const width = 30
	n := int(frac * width)
	rate := float64(ev.Bytes) / max(time.Since(b.start).Seconds(), 0.001) / (1 << 20)
	fmt.Fprintf(b.w.stderr, "\r[%s%s] %3.0f%% %.1f/%.1f MiB %.1f MiB/s ", strings.Repeat("#", n), strings.Repeat(" ", width-n),
		100*frac, float64(ev.Bytes)/(1<<20), float64(ev.Size)/(1<<20), rate)
	b.drawn = true
}

func (b *progressBar) end() {
	if b.drawn {
		fmt.Fprintln(b.w.stderr)
		b.drawn = false
	}
}

// runTransfers lists the node's recent transfers and the offers waiting.
func runTransfers(ctx context.Context, e *env, args []string) error {
	const synopsis = "[--json]"
	fs := newFlagSet(e, "transfers")
	asJSON := fs.Bool("json", false, "print one JSON array")
	pos, err := parseArgs(e, fs, args, synopsis)
	if err != nil {
		return err
	}
	if err := exactArgs(fs, pos, 0, synopsis); err != nil {
		return err
	}
	resp, err := controlDo(ctx, e, control.Request{Op: control.OpTransfers})
	if err != nil {
		return err
	}
	if *asJSON {
		return e.printJSON(resp.Transfers)
	}
	if len(resp.Transfers) == 0 {
		fmt.Fprintln(e.stdout, "no transfers")
	}
	for _, t := range resp.Transfers {
		fmt.Fprintf(e.stdout, "%s  %-11s %s %q %d/%d bytes", t.ID, t.State, t.Peer, t.Name, t.Bytes, t.Size)
		if t.Reason != "" {
			fmt.Fprintf(e.stdout, ": %s", t.Reason)
		}
		fmt.Fprintln(e.stdout)
	}
	return nil
}

// runAccept and runRefuse decide on a waiting file offer.
func runAccept(ctx context.Context, e *env, args []string) error {
	return fileDecision(ctx, e, args, "accept", control.OpAcceptFile, "accepted")
}

func runRefuse(ctx context.Context, e *env, args []string) error {
	return fileDecision(ctx, e, args, "refuse", control.OpRefuseFile, "refused")
}

func fileDecision(ctx context.Context, e *env, args []string, name, op, done string) error {
	const synopsis = "ID"
	fs := newFlagSet(e, name)
	pos, err := parseArgs(e, fs, args, synopsis)
	if err != nil {
		return err
	}
	if err := exactArgs(fs, pos, 1, synopsis); err != nil {
		return err
	}
	if _, err := controlDo(ctx, e, control.Request{Op: op, TransferID: pos[0]}); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, done)
	return nil
}
