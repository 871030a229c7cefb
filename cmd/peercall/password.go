package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxPasswordBytes bounds a password read from stdin or a terminal.
const maxPasswordBytes = 1024

// readPassword returns the password: one line of stdin with --password-stdin,
// else read from the terminal without echo (twice when confirm is set).
// Passwords never come from flags or the environment.
func (e *env) readPassword(fromStdin bool, user string, confirm bool) (string, error) {
	if fromStdin {
		pw, err := readLine(e.stdin)
		if err != nil {
			return "", fmt.Errorf("read the password from stdin: %w", err)
		}
		return pw, nil
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !isTerminal(f.Fd()) {
		return "", usageErrorf("no terminal to ask the password on; pipe it in with --password-stdin")
	}
	fmt.Fprintf(e.stderr, "Password for %s: ", user)
	pw, err := readNoEcho(f.Fd())
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", fmt.Errorf("read the password from the terminal: %w", err)
	}
	if !confirm {
		return pw, nil
	}
	fmt.Fprint(e.stderr, "Repeat the password: ")
	again, err := readNoEcho(f.Fd())
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", fmt.Errorf("read the password from the terminal: %w", err)
	}
	if again != pw {
		return "", usageErrorf("the two passwords differ; run the command again")
	}
	return pw, nil
}

// readLine reads one line (up to maxPasswordBytes) and strips the line end.
func readLine(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, maxPasswordBytes+2), maxPasswordBytes+2)
	line, err := br.ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	switch {
	case len(line) > maxPasswordBytes:
		return "", fmt.Errorf("the password is longer than %d bytes", maxPasswordBytes)
	case len(line) == 0:
		return "", errors.New("the password is empty; write it as one line on stdin")
	}
	return string(line), nil
}
