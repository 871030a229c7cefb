package testutil

import (
	"os"
	"strings"
	"testing"
)

// TestOfflinePackages: every package whose measures skip under -race is run
// by scripts/test.sh without it.
func TestOfflinePackages(t *testing.T) {
	script, err := os.ReadFile("../../scripts/test.sh")
	if err != nil {
		t.Fatal(err)
	}
	line := ""
	for l := range strings.SplitSeq(string(script), "\n") {
		if strings.HasPrefix(l, "go test -count=1 ") && !strings.Contains(l, "-race") {
			line = l
		}
	}
	if line == "" {
		t.Fatal("scripts/test.sh has no `go test -count=1 ...` pass without -race for the offline measures")
	}
	for _, p := range OfflinePackages {
		if !strings.Contains(line, p) {
			t.Errorf("scripts/test.sh's pass without -race (%q) does not run %s", line, p)
		}
	}
}
