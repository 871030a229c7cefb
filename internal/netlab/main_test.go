package netlab

import (
	"fmt"
	"os"
	"testing"
)

// TestMain fails the run if any namespace of this process outlived its
// test: every lab must have cleaned up after itself, failed tests included.
func TestMain(m *testing.M) {
	code := m.Run()
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		if pid, ok := ownerPID(e.Name()); ok && pid == os.Getpid() {
			fmt.Fprintf(os.Stderr, "netlab: namespace %s outlived its test; deleting it\n", e.Name())
			if err := deleteNamespace(e.Name()); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
			code = 1
		}
	}
	releaseOwner()
	os.Exit(code)
}
