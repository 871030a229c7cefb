// Package sharedport lets a super-node serve TURN over TCP, TURN over TLS and
// libp2p on one TCP port (443, for clients behind firewalls that let out
// nothing else). Demux peeks at the first 8 bytes of each connection (5 s
// bound) and hands it to the route whose matcher claims it: IsSTUN (TURN
// over TCP), IsTLS (TURN over TLS), IsMultistream (libp2p).
// NewSharedTCPTransport is go-libp2p's TCP transport serving one listen
// address from a Demux route, so libp2p sees each client's real address.
// SelfSignedCertificate makes TURN's TLS certificate from the super-node's
// ed25519 key and PinnedTLSConfig checks it by that key on the client side:
// no CA is involved, the key a client already trusts is the pin.
package sharedport
