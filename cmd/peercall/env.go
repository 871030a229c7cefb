package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/internal/p2plog"
)

// env is what a command sees of the world: its standard streams, the
// global flags, and the options of the directory client (tests set retry
// and timeouts). Commands never touch os.Stdin/Stdout directly, so tests run
// them in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	home      string // --home; "" means home.DefaultHomeDir
	verbose   bool   // -v: debug
	quiet     bool   // -q: warnings (run) or errors only
	logFormat string // --log-format
	log       *slog.Logger

	// clientOptions are the base options of every directory client; the
	// pinned key and logger are filled in per use.
	clientOptions directory.ClientOptions
}

func newEnv(stdin io.Reader, stdout, stderr io.Writer) *env {
	return &env{
		stdin:  stdin,
		stdout: stdout,
		stderr: stderr,
		log:    slog.New(slog.DiscardHandler),
	}
}

// openHome opens the home directory chosen by --home, $PEERCALL_HOME or the
// default.
func (e *env) openHome() (*home.Home, error) {
	dir := e.home
	if dir == "" {
		var err error
		if dir, err = home.DefaultHomeDir(); err != nil {
			return nil, err
		}
	}
	return home.OpenHome(dir)
}

// newClient returns a directory client for url pinned to key (nil for
// trust on first use).
func (e *env) newClient(url string, key []byte) (*directory.Client, error) {
	opts := e.clientOptions
	opts.DirectoryKey = key
	opts.Logger = e.log
	return directory.NewClient(url, opts)
}

// directoryClient opens the home and returns a client of its configured,
// pinned directory.
func (e *env) directoryClient(context.Context) (*home.Home, *directory.Client, error) {
	hm, err := e.openHome()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := hm.Config()
	if err != nil {
		return nil, nil, err
	}
	if cfg.Directory.URL == "" {
		return nil, nil, fmt.Errorf("no directory is configured in %s; run `peercall --home %s init --directory URL` first", hm.Dir(), hm.Dir())
	}
	key, err := crypto.ParsePublicKey(cfg.Directory.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("directory.key in %s: %w; run `peercall init` again", hm.Path(home.ConfigFile), err)
	}
	c, err := e.newClient(cfg.Directory.URL, key)
	if err != nil {
		return nil, nil, fmt.Errorf("directory.url in %s: %w", hm.Path(home.ConfigFile), err)
	}
	return hm, c, nil
}

// setupLog makes the command's logger on stderr: info for `run` (a daemon
// says what it does), warnings for the other commands (their output is the
// answer; a warning, such as a certificate about to expire, still shows);
// -q one step quieter, -v debug with libp2p's and pion's detail. The
// libraries' own logs go to the same handler at debug level (p2plog).
func (e *env) setupLog(command string) error {
	if e.verbose && e.quiet {
		return usageErrorf("-v and -q contradict each other; give one")
	}
	level := slog.LevelWarn
	if command == "run" {
		level = slog.LevelInfo
	}
	switch {
	case e.verbose:
		level = slog.LevelDebug
	case e.quiet:
		level += 4
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch e.logFormat {
	case "text", "":
		h = slog.NewTextHandler(e.stderr, opts)
	case "json":
		h = slog.NewJSONHandler(e.stderr, opts)
	default:
		return usageErrorf("--log-format %q is not text or json", e.logFormat)
	}
	e.log = slog.New(h)
	p2plog.Route(h)
	audio.SetLibraryLogger(e.log.With("component", "audio"))
	return nil
}
