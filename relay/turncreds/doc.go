// Package turncreds is the /peercall/relay/1 protocol, by which a certified
// peer asks a super-node for short-lived TURN credentials: one request
// {nonce, directory certificate} and one response {nonce, code, and either
// the credentials (TURN REST username and password, expiry, turn:/turns:
// URLs) or a refusal message}, each a frame of a 2-byte length and a body
// of at most MaxMessageSize bytes, decoded strictly (every length in range,
// no trailing bytes, UTF-8 without control characters). Request is the
// asking side; package relay serves it. Clients need only this package,
// not the TURN server.
package turncreds
