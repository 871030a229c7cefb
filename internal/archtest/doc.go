// Package archtest holds tests of the repository's shape: every package has a
// doc comment, and imports point only downward as DESIGN.md draws them
// (cmd -> node -> {signalling, media, relay, directory} -> {crypto, audio}),
// with no SQL driver linked into the client binary.
package archtest
