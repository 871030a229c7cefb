// Package p2plog routes the logs of libp2p (its gologshim loggers) and of
// the libraries on go-log v2 (kad-dht) into the program's slog handler, at
// debug level: they report what peercall handles itself (a busy port that
// the node then works around, a peer that went away), so they belong in
// `-v` output, not in a user's terminal. Install once at start; Route says
// where they go now.
package p2plog
