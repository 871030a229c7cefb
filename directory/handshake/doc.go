// Package handshake bounds the TLS handshakes a server runs at once. Its
// Listener completes each connection's handshake before Accept returns it,
// at most MaxConcurrent at a time; a connection over the cap waits up to
// MaxWait for a slot and is then closed without an answer, so that its
// client backs off and retries instead of every handshake of a login storm
// sharing the CPU and none finishing in time. A client resuming a TLS
// session (it offers a pre-shared key: a node that was connected before)
// is served before the full handshakes that wait: its handshake is cheaper
// and it is, most likely, a node already online.
package handshake
