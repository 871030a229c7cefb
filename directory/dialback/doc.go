// Package dialback proves that a node listens where it says: Prover dials
// a TCP address over libp2p with Noise, whose handshake shows the peer's
// key, so the node at the address is the holder of the key that logged in.
// The directory uses it before listing a node as a super-node; its libp2p
// host listens nowhere and dials only the one address it is asked about.
package dialback
