// Package reach tells a node how others can reach it. Reachability is proven,
// not guessed from address ranges: Prove asks connected peers to dial the
// node's addresses back over /peercall/dialback/1 (Service answers for
// others, from a separate listener-less host, so the asker's own
// connections cannot answer for it, and only on the IP the request came
// from). Ranges decides which addresses count as public, widened by
// network.reachable_ranges for campus networks and the lab. Detector proves
// whether the node sits behind a firewall that lets out only TCP 443
// (restricted mode).
//
// Wire format of /peercall/dialback/1 (frames of a 2-byte length and a body
// of at most 4096 bytes, all integers big-endian):
//
//	request:  version 1 | type 1 | nonce 16 | count 1 (1..8), then per
//	          address a 2-byte length (1..256) and the binary multiaddr
//	response: version 1 | type 2 | nonce 16 | code 1 | index 1 (0..7, or
//	          255 for none) | message: 2-byte length (0..512), UTF-8
package reach
