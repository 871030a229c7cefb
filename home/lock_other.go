//go:build !unix

package home

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"time"
)

// lockFile stands in for flock where there is none: the home is taken when
// its control socket answers.
func lockFile(f *os.File) error {
	sock := filepath.Join(filepath.Dir(f.Name()), ControlSocket)
	if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		c.Close()
		return errors.New("the control socket answers")
	}
	return nil
}
