// Package fastpath is a super-node's data plane for ChannelData: a wrapper
// of the TURN UDP sockets that relays a client's ChannelData itself (pion/turn
// keeps the control plane: authentication, allocations, permissions, channel
// binds) and hands both legs of a call on the same super-node from one
// allocation to the other in process, without a send, a receive and a
// wake-up through the kernel. A Table mirrors pion's allocations and
// channels from its events; the relay meters and filters every packet
// through its Leg.
package fastpath
