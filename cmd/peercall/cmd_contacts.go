package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/peercall/peercall/contacts"
	"github.com/peercall/peercall/control"
)

const contactsSynopsis = "[add NAME [--message TEXT] | accept NAME | decline NAME | block NAME | remove NAME] [--json]"

// runContacts lists the contact list, or changes one contact.
func runContacts(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "contacts")
	asJSON := fs.Bool("json", false, "print one JSON object")
	message := fs.String("message", "", "the request's message (add)")
	pos, err := parseArgs(e, fs, args, contactsSynopsis)
	if err != nil {
		return err
	}
	err = contactsCmd(ctx, e, pos, *message, *asJSON)
	if err != nil && *asJSON {
		return e.printJSONError(err)
	}
	return err
}

func contactsCmd(ctx context.Context, e *env, pos []string, message string, asJSON bool) error {
	if len(pos) == 0 {
		if message != "" {
			return usageErrorf("--message goes with add; usage: peercall contacts %s", contactsSynopsis)
		}
		resp, err := controlDo(ctx, e, control.Request{Op: control.OpContacts})
		if err != nil {
			return err
		}
		if asJSON {
			return e.printJSON(map[string]any{"self": resp.Self, "contacts": resp.Contacts})
		}
		if resp.Self != nil {
			fmt.Fprintf(e.stdout, "you: %s%s\n", resp.Self.Status, moodSuffix(resp.Self.Mood))
		}
		if len(resp.Contacts) == 0 {
			fmt.Fprintln(e.stdout, "no contacts yet; add one with `peercall contacts add NAME`")
		}
		for _, c := range resp.Contacts {
			line := fmt.Sprintf("%-20s %-9s", c.Username, c.State)
			switch c.State {
			case contacts.StateAccepted:
				line += " " + string(c.Status) + moodSuffix(c.Mood)
			case contacts.StateIncoming:
				line += " wants to add you"
				if c.Note != "" {
					line += fmt.Sprintf(": %q", c.Note)
				}
				line += fmt.Sprintf(" (peercall contacts accept %s)", c.Username)
			case contacts.StateOutgoing:
				if c.Queued > 0 {
					line += " request waiting until they come online"
				} else {
					line += " request delivered, no answer yet"
				}
			}
			fmt.Fprintln(e.stdout, line)
		}
		return nil
	}
	if len(pos) != 2 {
		return usageErrorf("usage: peercall contacts %s", contactsSynopsis)
	}
	action, name := pos[0], pos[1]
	switch action {
	case control.ActionAdd, control.ActionAccept, control.ActionDecline, control.ActionBlock, control.ActionRemove:
	default:
		return usageErrorf("contacts: unknown action %q; usage: peercall contacts %s", action, contactsSynopsis)
	}
	if message != "" && action != control.ActionAdd {
		return usageErrorf("--message goes with add only")
	}
	resp, err := controlDo(ctx, e, control.Request{Op: control.OpContact, Action: action, Name: name, Message: message})
	if err != nil {
		return err
	}
	if asJSON {
		return e.printJSON(map[string]any{"action": action, "name": name, "delivered": resp.Delivered})
	}
	switch {
	case action == control.ActionBlock || action == control.ActionRemove:
		fmt.Fprintf(e.stdout, "%s: %s\n", action, name)
	case resp.Delivered:
		fmt.Fprintf(e.stdout, "%s: %s (delivered)\n", action, name)
	default:
		fmt.Fprintf(e.stdout, "%s: %s (queued: %s is offline; it is delivered when they come online while your node runs)\n", action, name, name)
	}
	return nil
}

func moodSuffix(m string) string {
	if m == "" {
		return ""
	}
	return fmt.Sprintf(" — %q", m)
}

const presenceSynopsis = "online|away|dnd|invisible [--mood TEXT] [--json]"

// runPresence sets this user's status as contacts see it.
func runPresence(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "presence")
	asJSON := fs.Bool("json", false, "print one JSON object")
	mood := fs.String("mood", "", "a short text contacts see beside the status")
	pos, err := parseArgs(e, fs, args, presenceSynopsis)
	if err != nil {
		return err
	}
	if err := exactArgs(fs, pos, 1, presenceSynopsis); err != nil {
		return err
	}
	if _, err := contacts.ParseStatus(pos[0]); err != nil {
		return usageErrorf("presence: %v", err)
	}
	req := control.Request{Op: control.OpPresence, Status: pos[0]}
	moodSet := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "mood" {
			moodSet = true
		}
	})
	if moodSet {
		req.Mood = mood
	}
	resp, err := controlDo(ctx, e, req)
	if err != nil {
		if *asJSON {
			return e.printJSONError(err)
		}
		return err
	}
	if *asJSON {
		return e.printJSON(resp.Self)
	}
	if resp.Self != nil {
		fmt.Fprintf(e.stdout, "you are %s%s\n", resp.Self.Status, moodSuffix(resp.Self.Mood))
	}
	return nil
}

// runHistory lists the latest calls, newest first.
func runHistory(ctx context.Context, e *env, args []string) error {
	resp, asJSON, err := queryNode(ctx, e, "history", args, control.OpHistory)
	if err != nil {
		return err
	}
	if resp.History == nil {
		resp.History = []contacts.Call{}
	}
	if asJSON {
		return e.printJSON(map[string]any{"calls": resp.History})
	}
	if len(resp.History) == 0 {
		fmt.Fprintln(e.stdout, "no calls yet")
	}
	for _, c := range resp.History {
		what := c.End
		if c.Connected {
			what = fmt.Sprintf("%.0f s, %s", c.DurationS, c.Route)
		}
		fmt.Fprintf(e.stdout, "%s  %-8s %-20s %s\n", c.Started.Local().Format("2006-01-02 15:04"), c.Direction, c.Peer, what)
	}
	return nil
}
