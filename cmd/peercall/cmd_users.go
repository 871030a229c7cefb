package main

import (
	"context"
	"fmt"
	"strconv"
)

// runUsers lists the users whose name starts with QUERY.
func runUsers(ctx context.Context, e *env, args []string) error {
	const synopsis = "QUERY [--limit N] [--json]"
	fs := newFlagSet(e, "users")
	limit := fs.Int("limit", 20, "at most this many users")
	asJSON := fs.Bool("json", false, "print the page of results as one JSON object")
	pos, err := parseArgs(e, fs, args, synopsis)
	if err != nil {
		return err
	}
	if err := exactArgs(fs, pos, 1, synopsis); err != nil {
		return err
	}
	if *limit < 1 {
		return usageErrorf("--limit must be at least 1, got %s", strconv.Itoa(*limit))
	}
	query := pos[0]
	err = users(ctx, e, query, *limit, *asJSON)
	if err != nil && *asJSON {
		return e.printJSONError(err)
	}
	return err
}

func users(ctx context.Context, e *env, query string, limit int, asJSON bool) error {
	_, client, err := e.directoryClient(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	resp, err := client.Search(ctx, query, "", limit)
	if err != nil {
		return err
	}
	if asJSON {
		return e.printJSON(resp)
	}
	if len(resp.Users) == 0 {
		fmt.Fprintf(e.stdout, "no users whose name starts with %q\n", query)
		return nil
	}
	for _, u := range resp.Users {
		if u.Display != "" && u.Display != u.Username {
			fmt.Fprintf(e.stdout, "%s\t(%s)\n", u.Username, u.Display)
		} else {
			fmt.Fprintln(e.stdout, u.Username)
		}
	}
	if resp.Next != "" {
		fmt.Fprintf(e.stdout, "(more users match; narrow the query or raise --limit)\n")
	}
	return nil
}
