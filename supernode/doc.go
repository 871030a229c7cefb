// Package supernode is a node's super-node side and its relay client.
// Manager decides, every Options.Interval, whether the node relays for
// others (relay.Promoter fed with the relay mode, the administrator's
// policy, restricted mode, reachability proven by dial-back, uptime,
// declared upstream and CPU load). Promoted, it runs the TURN server
// (relay.Relay), libp2p's circuit relay v2 with relay.CircuitResources, and
// the /peercall/relay/1 credential handler, and provides relay.ProviderKey
// in the DHT; demoted, it stops all three and drains TURN. As a client it
// keeps the known super-nodes ranked by RTT (PickRelay, CallRelay), holds a
// circuit reservation at the fastest while the node is not reachable
// directly, and dials unreachable peers through the super-nodes' circuits.
package supernode
