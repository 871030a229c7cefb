package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/peercall/peercall/directory"
)

// runLogout revokes this node's certificate (proved by its key), or with
// --everywhere every certificate of the account (proved by the password):
// a stolen machine's key stops being the user once nodes refresh their
// revocation list.
func runLogout(ctx context.Context, e *env, args []string) error {
	const synopsis = "[--everywhere [--password-stdin]]"
	fs := newFlagSet(e, "logout")
	everywhere := fs.Bool("everywhere", false, "revoke every certificate of the account, on every machine (asks for the password)")
	fromStdin := fs.Bool("password-stdin", false, "with --everywhere: read the password as one line from stdin instead of prompting")
	pos, err := parseArgs(e, fs, args, synopsis)
	if err != nil {
		return err
	}
	if err := exactArgs(fs, pos, 0, synopsis); err != nil {
		return err
	}
	hm, client, err := e.directoryClient(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	cert, err := hm.Certificate()
	if err != nil {
		return err
	}
	var resp directory.RevokeResponse
	if *everywhere {
		password, err := e.readPassword(*fromStdin, cert.Username, false)
		if err != nil {
			return err
		}
		resp, err = client.Logout(ctx, cert.Username, password)
		if errors.Is(err, directory.ErrAuthFailed) {
			return &userError{msg: fmt.Sprintf("log %s out everywhere: %s", cert.Username, apiMessage(err)), err: err}
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "logged %s out everywhere: %d certificates revoked; running nodes refuse them within a minute or two\n", cert.Username, resp.Revoked)
		return nil
	}
	key, _, err := hm.IdentityKey()
	if err != nil {
		return err
	}
	if resp, err = client.Revoke(ctx, key, cert); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "logged out: certificate %d of %s revoked (%d); run `peercall login %s` to log in again\n", cert.Serial, cert.Username, resp.Revoked, cert.Username)
	return nil
}

// runPasswd changes the account's password: the current one, then the
// new one (twice at a prompt; two lines with --password-stdin).
func runPasswd(ctx context.Context, e *env, args []string) error {
	const synopsis = "[--password-stdin]"
	fs := newFlagSet(e, "passwd")
	fromStdin := fs.Bool("password-stdin", false, "read the current and the new password as two lines from stdin instead of prompting")
	pos, err := parseArgs(e, fs, args, synopsis)
	if err != nil {
		return err
	}
	if err := exactArgs(fs, pos, 0, synopsis); err != nil {
		return err
	}
	hm, client, err := e.directoryClient(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	name, err := hm.Username()
	if err != nil {
		return err
	}
	var old, newPassword string
	if *fromStdin {
		// Two lines; one read, so that no buffer swallows the second.
		b, err := io.ReadAll(io.LimitReader(e.stdin, 2*(maxPasswordBytes+2)))
		if err != nil {
			return fmt.Errorf("read the passwords from stdin: %w", err)
		}
		first, rest, ok := strings.Cut(string(b), "\n")
		if !ok {
			return usageErrorf("passwd --password-stdin: give the current and the new password on two lines")
		}
		if old, err = readLine(strings.NewReader(first)); err != nil {
			return fmt.Errorf("read the current password from stdin: %w", err)
		}
		if newPassword, err = readLine(strings.NewReader(rest)); err != nil {
			return fmt.Errorf("read the new password from stdin: %w", err)
		}
	} else {
		if old, err = e.readPassword(false, name+" (current)", false); err != nil {
			return err
		}
		if newPassword, err = e.readPassword(false, name+" (new)", true); err != nil {
			return err
		}
	}
	err = client.Passwd(ctx, name, old, newPassword)
	switch {
	case errors.Is(err, directory.ErrAuthFailed):
		return &userError{msg: fmt.Sprintf("change the password of %s: %s", name, apiMessage(err)), err: err}
	case errors.Is(err, directory.ErrInvalidRequest):
		return &userError{msg: fmt.Sprintf("change the password of %s: %s", name, apiMessage(err)), err: err}
	case err != nil:
		return err
	}
	fmt.Fprintf(e.stdout, "password of %s changed; certificates already issued stay valid (`peercall logout --everywhere` ends them)\n", name)
	return nil
}
