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
		main()
	}
	goleak.VerifyTestMain(m)
}
