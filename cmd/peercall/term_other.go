//go:build !linux

package main

import "errors"

// isTerminal is false where no-echo reading is not implemented, so the
// password must come from --password-stdin.
func isTerminal(uintptr) bool { return false }

func readNoEcho(uintptr) (string, error) {
	return "", errors.New("reading a password without echo is not supported on this system; use --password-stdin")
}
