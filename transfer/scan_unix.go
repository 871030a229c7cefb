//go:build unix

package transfer

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the scanner in a group of its own, and makes a
// timeout kill the whole group (a shell script's children too).
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
