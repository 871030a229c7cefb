package testutil

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOfflinePackages: every package whose tests call SkipOfflineUnderRace
// is in OfflinePackages, and scripts/test.sh runs each of those without
// -race.
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
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") || strings.Contains(path, "internal/testutil") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(src), "testutil.SkipOfflineUnderRace(") {
			return err
		}
		if pkg := "./" + filepath.ToSlash(filepath.Dir(strings.TrimPrefix(path, "../../"))) + "/"; !slices.Contains(OfflinePackages, pkg) {
			t.Errorf("%s skips a measure under -race, but %s is not in OfflinePackages, so make test would never run it", path, pkg)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
