// Package relay is the super-node: the promotion policy, the TURN server
// that relays media for peers stuck behind NATs, its limits and counters,
// the administrator's policy file, TURN credentials for certified peers
// (protocol /peercall/relay/1), and the circuit relay v2 limits and DHT key
// that the node uses for signalling relays and discovery.
//
// Package supernode wires it: it loads the policy (LoadPolicy), computes the
// effective settings (Effective, every change logged and shown in status),
// feeds a Promoter, and while the node is a super-node runs a Relay (New,
// Start, Drain, Close), circuit relay v2 with CircuitResources, and serves
// /peercall/relay/1 with ServeCredentials; clients ask with package
// turncreds. The peer filter is package peerfilter; one TCP port for TURN
// over TCP and TLS and libp2p is package sharedport, whose routes a Relay
// takes as Options.TURNListeners and TURNTLSListeners (credentials then
// carry turn:HOST:443?transport=tcp and turns:HOST:443?transport=tcp).
//
// # Limits
//
// All limits are Config fields ([relay] in config.toml) with defaults
// (DefaultConfig), validated by Config.Validate against bounds, capped by
// the admin policy (Effective) and logged at Start. They plug into
// pion/turn through its extension points, not a fork: the QuotaHandler
// refuses an allocation beyond relay.max_sessions or
// relay.max_sessions_per_user at once (486), the RelayAddressGenerator
// reserves the session slot and wraps each relay socket in a meter that
// applies the total bandwidth token bucket (relay.max_kbps, both
// directions; over-budget packets are dropped and counted, never queued)
// and a watchdog, the PermissionHandler filters peers. Existing sessions
// are never degraded to admit new ones. Only UDP relay allocations are
// offered (clients may reach the server over UDP, TCP or TLS); TCP relay
// allocations (RFC 6062) are refused.
//
// # Peers
//
// A super-node relays to public unicast addresses only (package
// peerfilter; refused 403 and counted as "peer_forbidden" by kind). The
// relayed address passes the permission, since two clients of one
// super-node relay to each other, but a datagram to or from any own
// address passes only on a port of an open allocation: never the TURN
// port, the node's sockets or another service of the host.
//
// # Abandoned allocations
//
// Three accounts once held a 12-session relay for 10 minutes with
// allocations nobody refreshed (pion/turn's default lifetime). Now:
//
//   - relay.idle_timeout = 60s closes an allocation that relays no packet
//     either way. A call sends 50 packets/s and ICE consent checks every
//     few seconds even when muted, so only dead allocations idle; 60 s is
//     twice the 30 s ring timeout, during which the caller's allocation
//     waits for the answer without traffic.
//   - relay.allocation_lifetime = 2m is the lifetime granted to clients
//     that ask for none (pion's client and libwebrtc ask for none; pion
//     refreshes at half of it, so one Refresh a minute), and the longest
//     any allocation may go without a successful Refresh: pion/turn grants
//     any LIFETIME below an hour, and the watchdog, fed by pion's Auth and
//     AllocationCreated events, closes such an allocation anyway.
//   - relay.max_sessions_per_user = 4 (by the certificate's username):
//     one call gathers one allocation per TURN URL of the super-node
//     (UDP, TCP, TLS: three), plus one for an ICE restart. It bounds what
//     one account holds; filling a default relay (50) takes 13 accounts,
//     and what they abandon is free again within a minute. A small relay
//     should lower it with the policy.
//
// Closures are counted by cause (Stats.Closed: max_session_duration,
// idle_timeout, allocation_lifetime).
//
// # Credentials
//
// TURN REST API credentials: username "<expiry unix>:<peercall username>",
// password base64(HMAC-SHA1(secret, username)), with a per-process random
// secret. IssueCredentials gives them only to the holder of a directory
// certificate that names the asking peer's key (crypto VerifyPeer); they
// expire after relay.credential_ttl and never after the certificate.
// Expiry is checked at Allocate; an allocation made in time refreshes until
// relay.max_session_duration.
//
// # Protocol /peercall/relay/1
//
// The wire format and the asking side are package turncreds.
package relay
