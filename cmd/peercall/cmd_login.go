package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/home"
)

// runLogin logs in with the node's identity key (created on first use) and
// saves the certificate the directory issues for it.
func runLogin(ctx context.Context, e *env, args []string) error {
	const synopsis = "NAME [--password-stdin]"
	fs := newFlagSet(e, "login")
	fromStdin := fs.Bool("password-stdin", false, "read the password as one line from stdin instead of prompting")
	pos, err := parseArgs(e, fs, args, synopsis)
	if err != nil {
		return err
	}
	if err := exactArgs(fs, pos, 1, synopsis); err != nil {
		return err
	}
	name := pos[0]

	hm, client, err := e.directoryClient(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	key, created, err := hm.IdentityKey()
	if err != nil {
		return err
	}
	password, err := e.readPassword(*fromStdin, name, false)
	if err != nil {
		return err
	}
	cert, resp, err := client.Login(ctx, directory.LoginParams{Username: name, Password: password, Key: key})
	var apiErr *directory.APIError
	switch {
	case errors.Is(err, directory.ErrAuthFailed):
		return &userError{
			msg: fmt.Sprintf("log in as %q at %s failed: %s (no account yet? run `peercall register %s`)",
				name, client.BaseURL(), apiMessage(err), name),
			err: err,
		}
	case errors.Is(err, directory.ErrThrottled) && errors.As(err, &apiErr):
		return &userError{
			msg: fmt.Sprintf("too many login attempts for %q: %s; wait %v and try again", name, apiMessage(err), apiErr.RetryAfter),
			err: err,
		}
	case err != nil:
		return err
	}
	if err := hm.SaveCertificate(cert); err != nil {
		return err
	}
	if err := hm.SaveUsername(cert.Username); err != nil {
		return err
	}

	fmt.Fprintf(e.stdout, "logged in as %s at %s\n", resp.Username, client.BaseURL())
	fmt.Fprintf(e.stdout, "peer key:    %s", crypto.EncodePublicKey(cert.PeerKey))
	if created {
		fmt.Fprintf(e.stdout, " (new identity key, saved in %s)", hm.Path(home.IdentityKeyFile))
	}
	fmt.Fprintf(e.stdout, "\ncertificate: serial %d, expires %s (in %s); saved in %s\n",
		cert.Serial, cert.Expires.UTC().Format(time.RFC3339), humanDuration(time.Until(cert.Expires)), hm.Path(home.CertificateFile))
	return nil
}

// humanDuration renders d roughly: "7 days", "5 hours", "12 minutes".
func humanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Round(time.Hour)/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Round(time.Minute)/time.Hour))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", int(d.Round(time.Second)/time.Minute))
	}
	return d.Round(time.Second).String()
}
