package home

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// LockFile is the home file a running node holds locked (flock), with its
// process ID inside.
const LockFile = "node.lock"

// ErrNodeRunning is wrapped when a node already runs on the home.
var ErrNodeRunning = errors.New("a peercall node is already running on this home")

// Lock is the exclusive lock of a running node on its home.
type Lock struct{ f *os.File }

// Lock takes the home's lock for a running node, or says which process
// holds it. The kernel drops the lock when the process exits, however it
// exits.
func (h *Home) Lock() (*Lock, error) {
	path := h.Path(LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		buf := make([]byte, 32)
		n, _ := f.ReadAt(buf, 0)
		f.Close()
		pid := strings.TrimSpace(string(buf[:n]))
		if _, perr := strconv.Atoi(pid); perr != nil {
			pid = "unknown"
		}
		return nil, fmt.Errorf("%w (process %s holds %s); stop it, talk to it with `peercall status`/`peercall call`, or pass another --home", ErrNodeRunning, pid, path)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &Lock{f: f}, nil
}

// Release unlocks the home.
func (l *Lock) Release() error {
	_ = l.f.Truncate(0)
	return l.f.Close() // closing the descriptor releases the flock
}
