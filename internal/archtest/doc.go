// Package archtest holds tests of the repository's shape: every package has a
// doc comment, imports point only downward as docs/architecture.md draws
// them (cmd -> node -> control -> {call, supernode} -> {presence, reach,
// home} -> {signalling, media, relay, directory} -> {crypto, audio}), product
// code uses only the shared helpers of internal/, no package grows past its
// size budget, and the client binary links no server SQL driver.
package archtest
