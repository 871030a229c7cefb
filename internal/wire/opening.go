package wire

import (
	"context"
	"fmt"
	"io"
	"log/slog"
)

// Opening is how the peer-to-peer protocols that bind a stream to its
// sender's directory certificate (chat, contacts, file transfer) read an
// incoming stream's first message: one frame of at most Max bytes, decoded
// strictly by Decode, whose certificate (Cert) must name the stream's
// authenticated peer (Verify, which knows that peer).
type Opening[M any] struct {
	// What names the protocol in logs ("chat stream").
	What      string
	Max       int
	Malformed error
	// Decode decodes the frame and refuses a message that may not open a
	// stream (an error wrapping Malformed).
	Decode func([]byte) (M, error)
	Cert   func(M) []byte
	// Verify checks the certificate against the stream's peer and returns
	// the username it certifies.
	Verify func(cert []byte) (string, error)
	// Refuse, when set, answers a certificate that does not check (the
	// sender is told why) instead of resetting the stream.
	Refuse func(err error)
	Logger *slog.Logger
}

// Read reads the first message from r, the stream s's reader; s is reset
// (or closed, when it has no Reset) on any failure, which is logged with
// the remote peer's name.
func (o Opening[M]) Read(s io.Closer, r io.Reader, remote fmt.Stringer) (M, string, error) {
	var zero M
	fail := func(why string, err error) (M, string, error) {
		if o.Logger != nil {
			level := slog.LevelInfo
			if why == "not read" { // a peer gone, not a peer misbehaving
				level = slog.LevelDebug
			}
			o.Logger.Log(context.Background(), level, o.What+" "+why, "peer", remote, "err", err)
		}
		if rs, ok := s.(interface{ Reset() error }); ok {
			_ = rs.Reset()
		} else {
			_ = s.Close()
		}
		return zero, "", err
	}
	data, err := ReadFrame(r, o.Max, o.Malformed)
	if err != nil {
		return fail("not read", err)
	}
	m, err := o.Decode(data)
	if err != nil {
		return fail("malformed", err)
	}
	user, err := o.Verify(o.Cert(m))
	if err != nil {
		err = fmt.Errorf("the sender's certificate does not check: %w", err)
		if o.Refuse != nil {
			o.Refuse(err)
			return zero, "", err
		}
		return fail("with a bad certificate", err)
	}
	return m, user, nil
}
