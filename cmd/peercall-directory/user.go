package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/store"
)

const userSynopsis = "peercall-directory user disable|enable|revoke NAME [--config FILE] [--data DIR] [--db URL]"

// runUser is `peercall-directory user VERB NAME [FLAGS]`: it changes an
// account in the database the settings name, beside a running directory
// or not. disable: the account gets no certificate (login, renewal) and no
// check-in, and its lookups answer 404; its certificates stay valid until
// they expire unless revoked too. enable undoes it. revoke: every
// unexpired certificate of the account is revoked; running directories
// list the revocation within revocation_refresh, nodes within their
// revocation list refresh.
func runUser(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || (args[0] != "disable" && args[0] != "enable" && args[0] != "revoke") || strings.HasPrefix(args[1], "-") {
		fmt.Fprintf(stderr, "usage: %s\n", userSynopsis)
		return exitUsage
	}
	verb := args[0]
	name, err := directory.Normalize(args[1])
	if err != nil {
		fmt.Fprintf(stderr, "peercall-directory user %s: %v\n", verb, err)
		return exitUsage
	}
	o, err := loadSettings(args[2:], stderr)
	if err != nil {
		fmt.Fprintf(stderr, "peercall-directory user %s: %v\nusage: %s\n", verb, err, userSynopsis)
		return exitUsage
	}
	st, err := store.OpenWith(ctx, o.DB, store.Options{SkipIntegrityCheck: true})
	if err != nil {
		fmt.Fprintf(stderr, "peercall-directory user %s: open database: %v\n", verb, err)
		return exitFailure
	}
	defer st.Close()
	switch verb {
	case "disable", "enable":
		err = st.SetDisabled(ctx, name, verb == "disable")
		if err == nil {
			fmt.Fprintf(stdout, "%s: %sd (no login, renewal or check-in while disabled; `user revoke %s` ends its certificates too)\n", name, verb, name)
		}
	case "revoke":
		var n int64
		n, err = st.RevokeCertificates(ctx, name, time.Now())
		if err == nil {
			fmt.Fprintf(stdout, "%s: %d certificates revoked; running directories list them within revocation_refresh (%v)\n", name, n, o.RevocationRefresh)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "peercall-directory user %s %s: %v\n", verb, name, err)
		return exitFailure
	}
	return exitOK
}
