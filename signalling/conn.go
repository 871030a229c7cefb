package signalling

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

// deadliner is implemented by net.Conn and libp2p network.Stream.
type deadliner interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// Conn sends and receives framed messages on one stream. Send may be called
// from several goroutines; Receive from one at a time.
//
// A context deadline becomes the stream's read or write deadline, and
// cancelling the context interrupts a blocked call, when the stream has
// deadlines (net.Conn and libp2p streams do). On a stream without deadlines,
// cancelling the context closes the stream, the only way to unblock it.
type Conn struct {
	rw      io.ReadWriteCloser
	dl      deadliner // nil if rw has no deadlines
	maxSize int
	trickle bool // the stream is ProtocolTrickle (trickle.go)

	wmu sync.Mutex
	rmu sync.Mutex

	closeOnce sync.Once
	closeErr  error
}

// NewConn wraps rw. Frames longer than maxSize bytes (MaxMessageSize if
// maxSize <= 0 or larger) are refused in both directions.
func NewConn(rw io.ReadWriteCloser, maxSize int) *Conn {
	c := &Conn{rw: rw, maxSize: clampMax(maxSize)}
	c.dl, _ = rw.(deadliner)
	c.trickle = tricklesOn(rw)
	return c
}

// Send writes m as one frame.
func (c *Conn) Send(ctx context.Context, m Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	stop, err := c.bind(ctx, c.setWrite)
	if err != nil {
		return err
	}
	err = WriteMessage(c.rw, &m, c.maxSize)
	return c.unbind(ctx, stop, c.setWrite, err)
}

// Receive reads and decodes the next frame. It returns io.EOF when the peer
// closed the stream between frames.
func (c *Conn) Receive(ctx context.Context) (Message, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	stop, err := c.bind(ctx, c.setRead)
	if err != nil {
		return Message{}, err
	}
	m, err := ReadMessage(c.rw, c.maxSize)
	return m, c.unbind(ctx, stop, c.setRead, err)
}

// Close closes the stream. It is safe to call more than once.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.rw.Close() })
	return c.closeErr
}

func (c *Conn) setRead(t time.Time) {
	if c.dl != nil {
		_ = c.dl.SetReadDeadline(t)
	}
}

func (c *Conn) setWrite(t time.Time) {
	if c.dl != nil {
		_ = c.dl.SetWriteDeadline(t)
	}
}

// bind ties ctx to the stream for one operation: its deadline becomes the
// stream deadline and its cancellation interrupts the operation.
func (c *Conn) bind(ctx context.Context, set func(time.Time)) (stop func() bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, _ := ctx.Deadline() // zero time clears any earlier deadline
	set(d)
	fired := make(chan struct{})
	stopf := context.AfterFunc(ctx, func() {
		defer close(fired)
		if c.dl != nil {
			set(time.Unix(1, 0)) // in the past: wakes the blocked call
		} else {
			_ = c.Close()
		}
	})
	return func() bool {
		if stopf() {
			return true
		}
		<-fired // let it finish before the deadline is reset
		return false
	}, nil
}

// unbind detaches ctx and reports ctx's error in place of the deadline error
// it caused, so callers can tell "gave up" from "stream broke".
func (c *Conn) unbind(ctx context.Context, stop func() bool, set func(time.Time), err error) error {
	if !stop() {
		// The AfterFunc ran or is running; the deadline it set must not
		// leak into the next operation.
		set(time.Time{})
	}
	if err == nil || errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrUnsupportedVersion) {
		return err
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	// The stream deadline can fire a moment before the context's own timer.
	var te interface{ Timeout() bool }
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) && errors.As(err, &te) && te.Timeout() {
		return context.DeadlineExceeded
	}
	return err
}
