package server

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: the server starts
// none of its own, and every listener, client and store is closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
