package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/peercall/peercall/directory"
)

// runRegister creates an account. A taken name exits 3 and prints the
// directory's suggestions.
func runRegister(ctx context.Context, e *env, args []string) error {
	const synopsis = "NAME [--password-stdin] [--json]"
	fs := newFlagSet(e, "register")
	fromStdin := fs.Bool("password-stdin", false, "read the password as one line from stdin instead of prompting")
	asJSON := fs.Bool("json", false, "print the result (or the error and suggestions) as one JSON object")
	pos, err := parseArgs(e, fs, args, synopsis)
	if err != nil {
		return err
	}
	if err := exactArgs(fs, pos, 1, synopsis); err != nil {
		return err
	}
	name := pos[0]
	err = register(ctx, e, name, *fromStdin, *asJSON)
	if err != nil && *asJSON {
		return e.printJSONError(err)
	}
	return err
}

func register(ctx context.Context, e *env, name string, fromStdin, asJSON bool) error {
	_, client, err := e.directoryClient(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	password, err := e.readPassword(fromStdin, name, true)
	if err != nil {
		return err
	}
	resp, err := client.Register(ctx, name, password)
	var apiErr *directory.APIError
	switch {
	case errors.Is(err, directory.ErrNameTaken):
		msg := fmt.Sprintf("the name %q is taken at %s", name, client.BaseURL())
		if errors.As(err, &apiErr) && len(apiErr.Suggestions) > 0 {
			msg += fmt.Sprintf("; names still free: %s. Pick one and run `peercall register %s` again",
				strings.Join(apiErr.Suggestions, ", "), apiErr.Suggestions[0])
		} else {
			msg += "; choose another name and run `peercall register NAME` again"
		}
		return &userError{msg: msg, err: err}
	case errors.Is(err, directory.ErrInvalidRequest):
		what := "choose another name"
		if errors.As(err, &apiErr) && apiErr.Code == directory.CodeWeakPassword {
			what = "choose another password"
		}
		return &userError{msg: fmt.Sprintf("the directory refused to register %q: %v; %s and run `peercall register` again", name, apiMessage(err), what), err: err}
	case err != nil:
		return err
	}
	if asJSON {
		return e.printJSON(resp)
	}
	fmt.Fprintf(e.stdout, "registered %s", resp.Username)
	if resp.Display != "" && resp.Display != resp.Username {
		fmt.Fprintf(e.stdout, " (shown as %s)", resp.Display)
	}
	fmt.Fprintf(e.stdout, " at %s\nNext: peercall login %s\n", client.BaseURL(), resp.Username)
	return nil
}

// apiMessage returns the directory's own message of err when there is one.
func apiMessage(err error) string {
	var apiErr *directory.APIError
	if errors.As(err, &apiErr) && apiErr.Message != "" {
		return apiErr.Message
	}
	return err.Error()
}
