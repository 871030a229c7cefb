//go:build unix

package audio_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
)

// TestCheckNotAFile gives a named pipe, /dev/zero and /dev/null as wav:
// paths to every entry point. Each must refuse it at once, saying what it
// is: opening a pipe for reading or writing waits for its other end, so an
// entry point that opened it would block (it used to leave a call ringing).
func TestCheckNotAFile(t *testing.T) {
	ctx := context.Background()
	fifo := filepath.Join(t.TempDir(), "x")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	for _, tc := range []struct {
		name string
		path string
		run  func(path string) error
		want string
	}{
		{"CheckSource pipe", fifo, func(p string) error { return audio.CheckSource(ctx, mustSpec(t, "wav:"+p)) }, "wav:" + fifo + " is a named pipe, not a WAV file; give a WAV file"},
		{"OpenSource pipe", fifo, func(p string) error {
			_, err := audio.OpenSource(ctx, mustSpec(t, "wav:"+p), audio.Options{})
			return err
		}, "is a named pipe, not a WAV file"},
		{"NewWAVSource pipe", fifo, func(p string) error { _, err := audio.NewWAVSource(p, false); return err }, "is a named pipe, not a WAV file"},
		{"CheckSink pipe", fifo, func(p string) error { return audio.CheckSink(ctx, mustSpec(t, "wav:"+p)) }, "wav:" + fifo + " is a named pipe, not a file to record into; give the path of a new or existing WAV file (to discard the audio use `null`)"},
		{"OpenSink pipe", fifo, func(p string) error {
			_, err := audio.OpenSink(ctx, mustSpec(t, "wav:"+p), audio.Options{})
			return err
		}, "is a named pipe, not a file to record into"},
		{"NewWAVSink pipe", fifo, func(p string) error { _, err := audio.NewWAVSink(p, nil); return err }, "is a named pipe, not a file to record into"},
		{"CheckSource /dev/zero", "/dev/zero", func(p string) error { return audio.CheckSource(ctx, mustSpec(t, "wav:"+p)) }, "wav:/dev/zero is a character device, not a WAV file; give a WAV file (for silence use `silence`)"},
		{"OpenSource /dev/zero", "/dev/zero", func(p string) error {
			_, err := audio.OpenSource(ctx, mustSpec(t, "wav:"+p), audio.Options{})
			return err
		}, "wav:/dev/zero is a character device"},
		{"CheckSink /dev/null", "/dev/null", func(p string) error { return audio.CheckSink(ctx, mustSpec(t, "wav:"+p)) }, "wav:/dev/null is a character device, not a file to record into"},
		{"OpenSink /dev/null", "/dev/null", func(p string) error {
			_, err := audio.OpenSink(ctx, mustSpec(t, "wav:"+p), audio.Options{})
			return err
		}, "wav:/dev/null is a character device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.path); err != nil {
				t.Skipf("needs %s: %v", tc.path, err)
			}
			done := make(chan error, 1)
			go func() { done <- tc.run(tc.path) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				// Blocked opening the pipe: open its other end (without
				// waiting) to let the call return, then fail.
				for _, flag := range []int{os.O_WRONLY, os.O_RDONLY} {
					if f, oerr := os.OpenFile(tc.path, flag|syscall.O_NONBLOCK, 0); oerr == nil {
						defer f.Close()
					}
				}
				err = <-done
				t.Fatalf("blocked on %s until its other end was opened (then: %v)", tc.path, err)
			}
			checkErr(t, tc.name, err, tc.want, nil)
		})
	}
}
