//go:build linux

package main

import (
	"bytes"
	"errors"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether fd is a terminal.
func isTerminal(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil
}

// readNoEcho reads one line from the terminal fd with echo off, restoring
// the terminal's mode afterwards. (golang.org/x/term does the same; this
// avoids adding a module for two ioctls.)
func readNoEcho(fd uintptr) (string, error) {
	old, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	if err != nil {
		return "", err
	}
	t := *old
	t.Lflag &^= unix.ECHO
	t.Lflag |= unix.ICANON | unix.ISIG
	t.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(int(fd), unix.TCSETS, &t); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(int(fd), unix.TCSETS, old)

	var line []byte
	var b [1]byte
	for {
		n, err := unix.Read(int(fd), b[:])
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			line = append(line, b[0])
			if len(line) > maxPasswordBytes {
				return "", errors.New("the password is too long")
			}
			continue
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", err
		}
		if len(line) == 0 {
			return "", errors.New("end of input before a password")
		}
		break
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return "", errors.New("the password is empty")
	}
	return string(line), nil
}
