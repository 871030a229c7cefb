// Package relay is the super-node: the promotion policy, the TURN server for
// media, circuit relay v2 for signalling, limits and the administrator policy,
// relay credentials and the DHT advertisement that lets clients find it.
package relay
