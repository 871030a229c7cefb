package node

import (
	"context"

	"github.com/peercall/peercall/call"
)

// SetCallMedia mutes, unmutes, holds or resumes the call id ("" for the
// only call): `peercall mute|unmute|hold|resume`, the web interface's
// buttons.
func (n *Node) SetCallMedia(ctx context.Context, id string, op call.MediaOp) (call.Info, error) {
	return n.calls.SetMedia(ctx, id, op)
}
