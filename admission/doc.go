// Package admission decides which libp2p peers a node spends its resources
// on. A peer proves it is a member by presenting its directory certificate
// (the /peercall/hello/1 exchange right after connecting, or an INVITE's);
// until then it gets a small, fixed budget: a short deadline, a few streams
// and connections, a cap on how many such peers per subnet and in all
// (the oldest evicted when a new one comes), and one signalling stream.
// The resource manager's limits are libp2p's defaults plus that budget, so
// uncertified traffic can never take what certified callers would have had.
package admission
