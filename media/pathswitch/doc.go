// Package pathswitch moves a relayed media session to a standby ICE
// candidate pair on its own when the selected pair dies: no ICE restart,
// no signalling (docs/architecture.md "Relay failover"). It hooks into
// pion's ICE as its binding-request handler; package media owns the
// session and feeds it the packet counts.
package pathswitch
