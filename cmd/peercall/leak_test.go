package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: every
// command closes its directory client, so no connection outlives it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
