// Package attacker is a test harness that floods a libp2p host the way an
// attacker without an account can: many fresh identities, each holding
// idle streams of a protocol (Streams), or just holding connections
// (Conns), from chosen loopback source addresses. Tests of admission and
// node use it to show that certified callers still get through.
package attacker
