package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: every
// command closes its directory client, so no connection outlives it. With
// PEERCALL_TEST_MAIN=1 the test binary is the peercall command itself
// (runProcess), so a test sees everything the process writes to stderr,
// libraries' direct writes included.
func TestMain(m *testing.M) {
	if os.Getenv("PEERCALL_TEST_MAIN") == "1" {
		if os.Getenv("PEERCALL_TEST_SAME_HOST") == "1" {
			// A super-node process of a test: every peer is on 127.0.0.1,
			// and the machine's load (other tests) must not demote it.
			cpuLoadHook = func() float64 { return 0 }
			sameHostPeersHook = true
		}
		main()
	}
	goleak.VerifyTestMain(m)
}
