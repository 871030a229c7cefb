// Package testutil holds helpers shared by peercall tests: temporary homes,
// free loopback ports, skips that say exactly what is missing.
package testutil
