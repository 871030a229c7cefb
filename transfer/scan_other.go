//go:build !unix

package transfer

import "os/exec"

func setProcessGroup(*exec.Cmd) {}
