package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// unitName is the systemd user unit `make install` puts in place.
const unitName = "peercall.service"

// unitDirs are where an installed user unit may be, first found wins.
func unitDirs() []string {
	dirs := []string{}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		dirs = append(dirs, filepath.Join(d, "systemd/user"))
	} else if h, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(h, ".local/share/systemd/user"))
	}
	return append(dirs, "/usr/local/lib/systemd/user", "/usr/lib/systemd/user", "/lib/systemd/user")
}

// wantsLink is the link that makes the user's systemd start the node with
// the session (what `systemctl --user enable` makes for
// WantedBy=default.target).
func wantsLink() (string, error) {
	cfg := os.Getenv("XDG_CONFIG_HOME")
	if cfg == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find your home directory: %w", err)
		}
		cfg = filepath.Join(h, ".config")
	}
	return filepath.Join(cfg, "systemd/user/default.target.wants", unitName), nil
}

// autostartOn reports whether the node starts with the session.
func autostartOn() bool {
	link, err := wantsLink()
	if err != nil {
		return false
	}
	_, err = os.Lstat(link)
	return err == nil
}

// runAutostart turns starting the node with the user's session on or off
// (installing peercall never does), or says which it is.
func runAutostart(ctx context.Context, e *env, args []string) error {
	const synopsis = "[on|off]"
	fs := newFlagSet(e, "autostart")
	pos, err := parseArgs(e, fs, args, synopsis)
	if err != nil {
		return err
	}
	if len(pos) > 1 || len(pos) == 1 && pos[0] != "on" && pos[0] != "off" {
		return usageErrorf("usage: peercall autostart %s", synopsis)
	}
	link, err := wantsLink()
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		state := "off"
		if autostartOn() {
			state = "on"
		}
		fmt.Fprintf(e.stdout, "autostart %s (%s)\n", state, link)
		return nil
	}
	if pos[0] == "off" {
		if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", link, err)
		}
		reload(ctx)
		fmt.Fprintln(e.stdout, "autostart off: the node no longer starts with your session (a running one keeps running; stop it with `systemctl --user stop peercall`)")
		return nil
	}
	unit := ""
	for _, d := range unitDirs() {
		if _, err := os.Stat(filepath.Join(d, unitName)); err == nil {
			unit = filepath.Join(d, unitName)
			break
		}
	}
	if unit == "" {
		return fmt.Errorf("%s is not installed (looked in %v); install peercall with `make install` or its Debian package first", unitName, unitDirs())
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(link), err)
	}
	_ = os.Remove(link)
	if err := os.Symlink(unit, link); err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	reload(ctx)
	fmt.Fprintf(e.stdout, "autostart on: the node starts with your session (%s); start it now with `systemctl --user start peercall`\n", unit)
	return nil
}

// reload asks the user's systemd to reread its units, when one runs.
func reload(ctx context.Context) {
	if _, err := exec.LookPath("systemctl"); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = exec.CommandContext(ctx, "systemctl", "--user", "daemon-reload").Run()
}
