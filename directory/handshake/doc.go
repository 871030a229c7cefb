// Package handshake bounds the TLS handshakes a server runs at once. Its
// Listener completes each connection's handshake before Accept returns it,
// at most MaxConcurrent at a time; a connection over the cap waits up to
// MaxWait for a slot and is then closed without an answer, so that its
// client backs off and retries instead of every handshake of a login storm
// sharing the CPU and none finishing in time.
//
// Waiting handshakes are served by class, then in order of arrival: first
// a client resuming a session whose chain began (its full handshake)
// before the current surge, a node that was online before the crowd came;
// then any other resumption (cheaper than a full handshake); then full
// handshakes. The class is known only once the session ticket has been
// decrypted and found to be ours (UnwrapSession), not from the
// ClientHello's pre_shared_key extension alone, so a client that offers
// garbage for a ticket queues as a full handshake; the chain's start
// travels inside the ticket (WrapSession). A surge begins when a
// handshake finds every slot taken after surgeQuiet with one free.
package handshake
