//go:build unix

package home

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive, non-blocking flock on f; the kernel drops it
// when the process exits, however it exits.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
