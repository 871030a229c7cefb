// Package presence says who is where. A node announces that it is online by
// storing a Record in the DHT under Key(username) = "/peercall/<normalised
// username>": a libp2p signed envelope (record.Seal) made with the node's
// ed25519 identity key, in the signature domain SignatureDomain, whose
// payload carries the user's directory certificate, the peer ID and the
// addresses to dial (direct and relay-circuit); the encoding is given on
// Record.MarshalRecord. Every DHT node runs Validator on every record, so an
// unsigned, forged, expired or misplaced record is refused by the whole
// network. Run keeps a node's record published and leaves a tombstone
// (Withdrawn, a higher sequence number) at a clean shutdown, so lookups
// answer "offline" rather than stale addresses.
//
// Resolver.Lookup finds a user: the DHT first, then the directory, then the
// HostCache of certificates seen on earlier calls (kept in the home's
// peers.json, which also lets a node rejoin the network while the directory
// is down).
package presence
