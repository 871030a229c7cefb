package audio_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
)

// TestPipeCarriesSpeech writes speech into a small pipe from one goroutine
// and reads it from another: every sample must arrive, in order.
func TestPipeCarriesSpeech(t *testing.T) {
	for _, capacity := range []int{0, 1, 3, 50} {
		src, dst := audio.NewPipe(capacity)
		alice := testaudio.MustSpeech("alice")
		done := make(chan struct{})
		go func() {
			defer close(done)
			writeAll(t, dst, alice)
			dst.Close()
		}()
		got := readAll(t, src, 1000) // until io.EOF after the writer's Close
		<-done
		src.Close()
		if len(got) < len(alice) || len(got)-len(alice) >= 960 {
			t.Fatalf("capacity %d: read %d samples for %d written", capacity, len(got), len(alice))
		}
		for i := range alice {
			if got[i] != alice[i] {
				t.Fatalf("capacity %d: sample %d = %d, want %d", capacity, i, got[i], alice[i])
			}
		}
	}
}

// TestPipeUnblocks checks that each way a blocked end can be released
// releases it with the documented error.
func TestPipeUnblocks(t *testing.T) {
	frame := make([]int16, 960)
	tests := []struct {
		name    string
		reader  bool // the blocked end is the reader (else a writer to a full pipe)
		release func(src audio.Source, dst audio.Sink, cancel context.CancelFunc)
		want    error
	}{
		{"reader, writer closes", true, func(_ audio.Source, dst audio.Sink, _ context.CancelFunc) { dst.Close() }, io.EOF},
		{"reader, reader closes", true, func(src audio.Source, _ audio.Sink, _ context.CancelFunc) { src.Close() }, audio.ErrClosed},
		{"reader, ctx ends", true, func(_ audio.Source, _ audio.Sink, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"writer, reader closes", false, func(src audio.Source, _ audio.Sink, _ context.CancelFunc) { src.Close() }, io.ErrClosedPipe},
		{"writer, writer closes", false, func(_ audio.Source, dst audio.Sink, _ context.CancelFunc) { dst.Close() }, audio.ErrClosed},
		{"writer, ctx ends", false, func(_ audio.Source, _ audio.Sink, cancel context.CancelFunc) { cancel() }, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := audio.NewPipe(1)
			defer src.Close()
			defer dst.Close()
			if !tc.reader { // fill the pipe so the next Write blocks
				if err := dst.Write(context.Background(), frame); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				if tc.reader {
					errc <- src.Read(ctx, frame)
				} else {
					errc <- dst.Write(ctx, frame)
				}
			}()
			select {
			case err := <-errc:
				t.Fatalf("returned %v before being released", err)
			case <-time.After(20 * time.Millisecond): // blocked, as it should be
			}
			tc.release(src, dst, cancel)
			if err := <-errc; !errors.Is(err, tc.want) {
				t.Fatalf("released with %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPipeFrameMismatch(t *testing.T) {
	src, dst := audio.NewPipe(2)
	defer src.Close()
	defer dst.Close()
	ctx := context.Background()
	if err := dst.Write(ctx, make([]int16, 480)); err != nil {
		t.Fatal(err)
	}
	if err := src.Read(ctx, make([]int16, 960)); err == nil {
		t.Fatal("a 10 ms frame read as 20 ms without error")
	}
}
