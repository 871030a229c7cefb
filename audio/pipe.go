package audio

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// NewPipe returns the two ends of an in-memory audio cable holding up to
// capacityFrames frames (at least 1): what is written to the Sink is read,
// in order and unchanged, from the Source. Both ends are unpaced; wrap them
// with Paced/PacedSink for real time.
//
// A Write to a full pipe blocks until the reader takes a frame (lossless
// back-pressure, which is what tests comparing sent and received audio
// need), until its ctx ends, or until either end is closed. A Read from an
// empty pipe blocks likewise. Closing the Sink lets the reader drain what is
// buffered and then get io.EOF; closing the Source makes pending and later
// Writes fail with io.ErrClosedPipe. Every frame written must have the length
// of the frames read.
func NewPipe(capacityFrames int) (Source, Sink) {
	p := &pipe{buf: make([][]int16, max(1, capacityFrames))}
	p.cond = make(chan struct{})
	return &pipeSource{p}, &pipeSink{p}
}

type pipe struct {
	mu      sync.Mutex
	buf     [][]int16 // ring of frames
	head, n int
	wclosed bool
	rclosed bool
	cond    chan struct{} // closed and replaced on every state change
	spare   [][]int16     // recycled frame buffers
}

// changed wakes every waiter; call with mu held.
func (p *pipe) changed() {
	close(p.cond)
	p.cond = make(chan struct{})
}

// waitFor blocks until ready() holds (checked with mu held) or ctx ends.
func (p *pipe) waitFor(ctx context.Context, ready func() bool) error {
	for !ready() {
		c := p.cond
		p.mu.Unlock()
		select {
		case <-c:
		case <-ctx.Done():
			p.mu.Lock()
			return ctx.Err()
		}
		p.mu.Lock()
	}
	return nil
}

type pipeSource struct{ p *pipe }

func (s *pipeSource) Read(ctx context.Context, frame []int16) error {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.waitFor(ctx, func() bool { return p.n > 0 || p.wclosed || p.rclosed }); err != nil {
		return err
	}
	if p.rclosed {
		return ErrClosed
	}
	if p.n == 0 {
		return io.EOF
	}
	f := p.buf[p.head]
	if len(f) != len(frame) {
		return fmt.Errorf("audio pipe: reading a frame of %d samples into %d; writer and reader must use the same frame duration", len(f), len(frame))
	}
	copy(frame, f)
	p.buf[p.head] = nil
	if len(p.spare) < len(p.buf) {
		p.spare = append(p.spare, f)
	}
	p.head = (p.head + 1) % len(p.buf)
	p.n--
	p.changed()
	return nil
}

func (s *pipeSource) Close() error {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.rclosed {
		p.rclosed = true
		p.changed()
	}
	return nil
}

type pipeSink struct{ p *pipe }

func (s *pipeSink) Write(ctx context.Context, frame []int16) error {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.waitFor(ctx, func() bool { return p.n < len(p.buf) || p.wclosed || p.rclosed }); err != nil {
		return err
	}
	if p.wclosed {
		return ErrClosed
	}
	if p.rclosed {
		return io.ErrClosedPipe
	}
	var f []int16
	if k := len(p.spare); k > 0 && cap(p.spare[k-1]) >= len(frame) {
		f, p.spare = p.spare[k-1][:len(frame)], p.spare[:k-1]
	} else {
		f = make([]int16, len(frame))
	}
	copy(f, frame)
	p.buf[(p.head+p.n)%len(p.buf)] = f
	p.n++
	p.changed()
	return nil
}

func (s *pipeSink) Close() error {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.wclosed {
		p.wclosed = true
		p.changed()
	}
	return nil
}
