package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// ErrScan wraps every scan that did not pass.
var ErrScan = errors.New("the scan did not pass")

// scanOutputMax bounds what of a scanner's output is kept for the reason.
const scanOutputMax = 4096

// limitedBuffer keeps the first scanOutputMax bytes written to it.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := scanOutputMax - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// Scan runs the scan command argv on path ({} in argv is replaced by it)
// within timeout. nil means it passed (exit status 0); otherwise the error
// says why (exit status and the scanner's first line, or the timeout).
func Scan(ctx context.Context, argv []string, path string, timeout time.Duration) error {
	if len(argv) == 0 {
		return nil
	}
	if timeout <= 0 {
		timeout = DefaultScanTimeout
	}
	args := make([]string, len(argv)-1)
	for i, a := range argv[1:] {
		args[i] = strings.ReplaceAll(a, "{}", path)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], args...)
	setProcessGroup(cmd)
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A hung scanner's children may hold the pipes: stop waiting for them.
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	first, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%w: scan command %s did not finish within %v (the file stays in quarantine)", ErrScan, argv[0], timeout)
	default:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%w: scan command %s exited with status %d: %s", ErrScan, argv[0], ee.ExitCode(), clip(first))
		}
		return fmt.Errorf("%w: scan command %s could not run: %w (fix transfer.scan_command)", ErrScan, argv[0], err)
	}
}
