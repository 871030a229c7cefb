// Package peerfilter decides which peer addresses a super-node's TURN relay
// may send to: public unicast only by default, never loopback, private
// (RFC 1918, ULA), link-local (the 169.254.169.254 cloud metadata service
// among them), CGNAT, multicast, broadcast, unspecified, reserved ranges or
// the super-node's own addresses; an IPv6 address carrying an IPv4 one
// (NAT64, 6to4) is judged by the IPv4 address inside. Ranges
// (relay.allowed_peer_ranges, e.g. network.reachable_ranges or the lab's
// 198.18.0.0/15) open some of those on purpose; nothing opens multicast,
// broadcast, unspecified or the host itself.
package peerfilter
