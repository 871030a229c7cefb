package autostart

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// UnitName is the systemd user unit `make install` puts in place.
const UnitName = "peercall.service"

// UnitDirs are where an installed user unit may be, first found wins.
func UnitDirs() []string {
	dirs := []string{}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		dirs = append(dirs, filepath.Join(d, "systemd/user"))
	} else if h, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(h, ".local/share/systemd/user"))
	}
	return append(dirs, "/usr/local/lib/systemd/user", "/usr/lib/systemd/user", "/lib/systemd/user")
}

// Link is the link that makes the user's systemd start the node with the
// session (WantedBy=default.target).
func Link() (string, error) {
	cfg := os.Getenv("XDG_CONFIG_HOME")
	if cfg == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find your home directory: %w", err)
		}
		cfg = filepath.Join(h, ".config")
	}
	return filepath.Join(cfg, "systemd/user/default.target.wants", UnitName), nil
}

// On reports whether the node starts with the session.
func On() bool {
	link, err := Link()
	if err != nil {
		return false
	}
	_, err = os.Lstat(link)
	return err == nil
}

// Enable links the installed unit into default.target.wants and returns
// the unit's path; an error says when no unit is installed.
func Enable(ctx context.Context) (string, error) {
	link, err := Link()
	if err != nil {
		return "", err
	}
	unit := ""
	for _, d := range UnitDirs() {
		if _, err := os.Stat(filepath.Join(d, UnitName)); err == nil {
			unit = filepath.Join(d, UnitName)
			break
		}
	}
	if unit == "" {
		return "", fmt.Errorf("%s is not installed (looked in %v); install peercall with `make install` or its Debian package first", UnitName, UnitDirs())
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(link), err)
	}
	_ = os.Remove(link)
	if err := os.Symlink(unit, link); err != nil {
		return "", fmt.Errorf("link %s: %w", link, err)
	}
	reload(ctx)
	return unit, nil
}

// Disable removes the link (a missing one is no error).
func Disable(ctx context.Context) error {
	link, err := Link()
	if err != nil {
		return err
	}
	if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", link, err)
	}
	reload(ctx)
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
