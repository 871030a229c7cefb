package node

import "context"

// SetDevice switches the microphone (in) and/or speaker (out) of the
// call id (the only call when id is empty); `peercall device`.
func (n *Node) SetDevice(ctx context.Context, id, in, out string) error {
	return n.calls.SetDevice(ctx, id, in, out)
}
