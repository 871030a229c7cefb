// Package netwatch tells a node that its network changed: it polls the
// machine's interfaces and their addresses (Interval, 500 ms) and reports
// each change of the set of usable addresses, with the new set, so that the
// node re-announces itself and moves its calls to the new path.
package netwatch
