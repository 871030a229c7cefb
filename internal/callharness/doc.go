// Package callharness runs a loopback peercall network inside a test: a real
// directory (directory/server on httptest with an SQLite store) and any
// number of nodes on 127.0.0.1 with virtual audio, so tests of node and of
// the CLI can place real calls by username.
package callharness
