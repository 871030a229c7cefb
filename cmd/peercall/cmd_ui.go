package main

import (
	"context"
	"fmt"

	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/node"
)

// runSoftphoneOptions are `run`'s web interface options from --ui.
func runSoftphoneOptions(uiAddr string) node.SoftphoneOptions {
	if uiAddr == "off" {
		return node.SoftphoneOptions{}
	}
	return node.SoftphoneOptions{UI: true, UIListen: uiAddr}
}

// runUI prints the running node's web interface address with a one-time
// login token.
func runUI(ctx context.Context, e *env, args []string) error {
	resp, asJSON, err := queryNode(ctx, e, "ui", args, control.OpUI)
	if err != nil {
		return err
	}
	if asJSON {
		return e.printJSON(map[string]string{"url": resp.URL})
	}
	fmt.Fprintln(e.stdout, resp.URL)
	fmt.Fprintln(e.stderr, "open this link in a browser on this machine within 2 minutes; it works once")
	return nil
}
