// Package node is one running peercall peer: the wiring and lifecycle of
// its parts. New takes the home's lock (package home), starts the libp2p
// host (host.go), joins the DHT through the bootstrap peers (bootstrap.go),
// publishes presence (package presence), starts the super-node manager
// (package supernode), signalling and the call manager (package call), and
// serves the control socket (package control); Close stops them in reverse
// and waits for each. The call path starts at Node.Call (calls.go), which
// hands the call to call.Manager with reachPeer as its way to find and dial
// the callee.
package node
