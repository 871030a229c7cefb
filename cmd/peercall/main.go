// Command peercall is the peercall client: it sets up a home directory,
// registers and logs in with the directory, looks users up, runs the node
// and places calls by name. docs/cli.md is its reference.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/peercall/peercall/internal/p2plog"
)

func main() {
	p2plog.Install()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, newEnv(os.Stdin, os.Stdout, os.Stderr), os.Args[1:])
	stop()
	os.Exit(code)
}

// command is one subcommand: its name, a one-line synopsis, and what it runs.
type command struct {
	name     string
	synopsis string // arguments, e.g. "NAME [--password-stdin]"
	summary  string
	run      func(ctx context.Context, e *env, args []string) error
}

// commands is the table of subcommands.
var commands = []command{
	{"init", "--directory URL [--directory-key KEY]", "choose a directory and pin its key", runInit},
	{"register", "NAME [--password-stdin] [--json]", "create an account (exit 3 when the name is taken)", runRegister},
	{"login", "NAME [--password-stdin]", "log in and get a certificate for this node's identity key", runLogin},
	{"logout", "[--everywhere [--password-stdin]]", "revoke this node's certificate, or with --everywhere every one of the account", runLogout},
	{"passwd", "[--password-stdin]", "change the account's password", runPasswd},
	{"users", "QUERY [--limit N] [--json]", "list users whose name starts with QUERY", runUsers},
	{"run", "[--relay auto|on|off] [--policy PATH] [--metrics ADDR] [--auto-answer] [--audio-in SPEC] [--audio-out SPEC] [--listen ADDR] [--ui ADDR|off]", "run the node: presence, incoming calls, control socket", runRun},
	{"call", "NAME [--duration D] [--audio-in SPEC] [--audio-out SPEC] [--force-relay] [--no-aec] [--no-ns] [--no-agc] [--no-hpf] [--json]", "call a user by name (exit 4 unknown or offline, 5 rejected or busy)", runCall},
	{"status", "[--json]", "show the running node's user, role and calls", runStatus},
	{"answer", "[CALL_ID]", "answer the ringing call", runAnswer},
	{"reject", "[CALL_ID]", "decline the ringing call", runReject},
	{"hangup", "[CALL_ID]", "hang up a call", runHangup},
	{"mute", mediaSynopsis, "stop sending your microphone on a call (the peer sees \"muted by peer\")", runMute},
	{"unmute", mediaSynopsis, "send your microphone again", runUnmute},
	{"hold", mediaSynopsis, "put a call on hold: no audio either way until you resume", runHold},
	{"resume", mediaSynopsis, "take your hold off a call", runResume},
	{"devices", "", "list sound card devices (for pa:NAME) and the devices of the running node's calls", runDevices},
	{"device", deviceSynopsis, "switch a live call's microphone or speaker", runDevice},
	{"send", "NAME FILE [--json]", "send a file to a user (they accept, or auto-accept you)", runSend},
	{"transfers", "[--json]", "list recent file transfers and offers waiting", runTransfers},
	{"accept", "ID", "accept a waiting file offer", runAccept},
	{"refuse", "ID", "refuse a waiting file offer", runRefuse},
	{"contacts", contactsSynopsis, "list contacts with their status, or add, accept, decline, block, remove one", runContacts},
	{"presence", presenceSynopsis, "set your status (and mood) as your contacts see it", runPresence},
	{"history", "[--json]", "the latest calls, newest first", runHistory},
	{"autostart", "[on|off]", "start the node with your session, or not (installing never does)", runAutostart},
	{"ui", "[--json]", "print a one-time link to the running node's web interface", runUI},
	{"dsp", dspSynopsis, "run a call's echo cancellation, noise suppression and gain control on WAV files", runDSP},
}

func findCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// run executes one command line (without the program name) and returns the
// exit code. Errors are printed on e.stderr.
func run(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("peercall", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&e.home, "home", "", "home directory (default $PEERCALL_HOME, else ~/.peercall)")
	fs.BoolVar(&e.verbose, "v", false, "log debug detail too, libp2p's and pion's included")
	fs.BoolVar(&e.verbose, "verbose", false, "same as -v")
	fs.BoolVar(&e.quiet, "q", false, "log warnings only (run) or errors only (other commands)")
	fs.BoolVar(&e.quiet, "quiet", false, "same as -q")
	fs.StringVar(&e.logFormat, "log-format", "text", "format of the log on stderr: text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(e.stdout)
			return exitOK
		}
		return e.fail(usageErrorf("%v; see `peercall help`", err), true)
	}
	if fs.NArg() == 0 {
		usage(e.stderr)
		return exitUsage
	}
	name := fs.Arg(0)
	if name == "help" {
		usage(e.stdout)
		return exitOK
	}
	cmd, ok := findCommand(name)
	if !ok {
		fmt.Fprintf(e.stderr, "peercall: unknown command %q\n\n", name)
		usage(e.stderr)
		return exitUsage
	}
	if err := e.setupLog(name); err != nil {
		return e.fail(err, true)
	}
	defer p2plog.Route(nil)
	err := cmd.run(ctx, e, fs.Args()[1:])
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return e.fail(err, true)
}

// usage prints the list of commands.
func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: peercall [--home DIR] [-v | -q] [--log-format text|json] COMMAND [ARGS]")
	fmt.Fprintln(w, "\ncommands:")
	cs := append([]command(nil), commands...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-9s %s\n  %-9s   %s\n", c.name, c.synopsis, "", c.summary)
	}
	fmt.Fprintln(w, "\nexit codes: 0 ok, 1 failure, 2 usage, 3 name taken, 4 user unknown or offline, 5 call rejected or busy, 6 authentication failed")
	fmt.Fprintln(w, "Passwords are read from a prompt, or from stdin with --password-stdin; never from flags.")
}

// newFlagSet returns a subcommand's flag set; -h prints its usage.
func newFlagSet(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseArgs parses flags that may come before, between or after the
// positional arguments ("register alice --json"); "--" ends the flags.
func parseArgs(e *env, fs *flag.FlagSet, args []string, synopsis string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printCommandUsage(e.stdout, fs, synopsis)
				return nil, flag.ErrHelp
			}
			return nil, usageErrorf("%s: %v; usage: peercall %s %s", fs.Name(), err, fs.Name(), synopsis)
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// printCommandUsage prints a subcommand's synopsis and flags.
func printCommandUsage(w io.Writer, fs *flag.FlagSet, synopsis string) {
	fmt.Fprintf(w, "usage: peercall [--home DIR] [-v | -q] %s %s\n\nflags:\n", fs.Name(), synopsis)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// exactArgs checks the number of positional arguments.
func exactArgs(fs *flag.FlagSet, pos []string, n int, synopsis string) error {
	if len(pos) != n {
		return usageErrorf("%s takes %d argument(s), got %d (%s); usage: peercall %s %s",
			fs.Name(), n, len(pos), strings.Join(pos, " "), fs.Name(), synopsis)
	}
	return nil
}
