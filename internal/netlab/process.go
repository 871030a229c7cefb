package netlab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// A Process is a command running inside a machine, started by Host.Start.
// Its stdout and stderr go to one buffer; it is killed, and its output
// logged, when the test ends.
type Process struct {
	host *Host
	cmd  *exec.Cmd
	name string
	out  *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, set before done is closed
}

// Start runs name with args inside the machine with extra environment
// variables env ("KEY=value", added to the test's own). The process is
// SIGKILLed at the end of the test if still running; its output goes to
// t.Log then if the test failed (Output has it at any time).
func (h *Host) Start(env []string, name string, args ...string) *Process {
	h.lab.t.Helper()
	cmd := h.Command(context.Background(), name, args...)
	cmd.Env = append(cmd.Environ(), env...)
	return h.StartCmd(cmd)
}

// StartCmd starts cmd, made by h.Command and set up further by the caller
// (Dir, Env, Stdin), as Start does. Its Stdout and Stderr must be unset: they
// go to the Process's buffer.
func (h *Host) StartCmd(cmd *exec.Cmd) *Process {
	l := h.lab
	l.t.Helper()
	name := cmd.Path
	if len(cmd.Args) > 4 && cmd.Args[1] == "netns" && cmd.Args[2] == "exec" {
		name = cmd.Args[4] // ip netns exec NS NAME ...
	}
	if cmd.Stdout != nil || cmd.Stderr != nil {
		l.t.Fatalf("netlab: start %s on %s: leave Stdout and Stderr unset; read the output with Process.Output", name, h.name)
	}
	p := &Process{host: h, cmd: cmd, name: name, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 5 * time.Second
	}
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("netlab: start %s on %s: %v", name, h.name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	l.t.Cleanup(func() {
		_ = cmd.Process.Kill() // if it is still running
		<-p.done
		out := p.out.String()
		if l.t.Failed() {
			l.t.Logf("netlab: %s on %s ended (%v); its output:\n%s", name, h.name, p.err, out)
		} else {
			l.t.Logf("netlab: %s on %s ended (%v) after %d bytes of output", name, h.name, p.err, len(out))
		}
	})
	return p
}

// Output is everything the process wrote so far to stdout and stderr.
func (p *Process) Output() string { return p.out.String() }

// WaitFor waits until the process's output contains s, the process exits, or
// ctx ends, whichever is first; it returns nil only in the first case.
func (p *Process) WaitFor(ctx context.Context, s string) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if strings.Contains(p.out.String(), s) {
			return nil
		}
		select {
		case <-p.done:
			if strings.Contains(p.out.String(), s) {
				return nil
			}
			return fmt.Errorf("netlab: %s on %s exited (%v) before printing %q; output:\n%s", p.name, p.host.name, p.err, s, p.out.String())
		case <-ctx.Done():
			return fmt.Errorf("netlab: %s on %s did not print %q: %w; output so far:\n%s", p.name, p.host.name, s, ctx.Err(), p.out.String())
		case <-tick.C:
		}
	}
}

// Signal sends sig to the process (`ip netns exec` execs the command, so
// this is the command itself), e.g. os.Interrupt for a graceful stop.
func (p *Process) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("netlab: signal %s on %s: %w", p.name, p.host.name, err)
	}
	return nil
}

// Wait waits for the process to exit, or ctx to end, and returns its exit
// error.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("netlab: %s on %s still running: %w", p.name, p.host.name, ctx.Err())
	}
}

// Kill SIGKILLs the process and waits for it to exit.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// syncBuffer is a bytes.Buffer safe for one writer and many readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
