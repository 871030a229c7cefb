package netlab

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// builds caches one build per package path for the life of the test process.
var builds sync.Map // package path -> *build

type build struct {
	once sync.Once
	bin  string
	err  error
}

// BuildBinary builds the main package pkg (an import path such as
// "github.com/peercall/peercall/cmd/peercall") once per test process and
// returns the path of the executable, for Host.Start. The binary lives in
// $TMPDIR/peercall-netlab-bin under a name fixed by the module's go.mod
// path and pkg, so repeated runs replace it instead of piling up and other
// checkouts never replace it; the go command's build cache makes rebuilds
// cheap.
func BuildBinary(t testing.TB, pkg string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(pkg, &build{})
	b := v.(*build)
	b.once.Do(func() { b.bin, b.err = goBuild(pkg) })
	if b.err != nil {
		t.Fatalf("netlab: %v", b.err)
	}
	return b.bin
}

func goBuild(pkg string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build %s: the go command is not on PATH: %w", pkg, err)
	}
	dir := filepath.Join(os.TempDir(), "peercall-netlab-bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	// The name is fixed by the module's directory and pkg: labs of other
	// checkouts (worktrees) of the module, running at the same time, build
	// their own code under names of their own.
	gomod, err := exec.Command(goTool, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("build %s: go env GOMOD: %w", pkg, err)
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(string(gomod)) + "\x00" + pkg))
	bin := filepath.Join(dir, path.Base(pkg)+"-"+hex.EncodeToString(sum[:4]))
	// Build beside the final name and rename, so a process of another test
	// binary running the old executable, or building it at the same time,
	// never sees a half-written file.
	tmp := fmt.Sprintf("%s.%d.tmp", bin, os.Getpid())
	out, err := exec.Command(goTool, "build", "-o", tmp, pkg).CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	return bin, nil
}
