// Package p2phost holds the libp2p options that decide how a node's
// connections are carried and secured (QUIC, TLS 1.3 before Noise, the
// order of dials on a LAN), shared by node's host and by the benchmarks
// that measure it (transfer's BenchmarkLoopback), so that a figure is the
// one a node gets.
package p2phost
