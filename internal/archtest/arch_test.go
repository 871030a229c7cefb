package archtest

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/peercall/peercall"

type pkg struct {
	ImportPath string
	Doc        string
	Imports    []string
	Deps       []string
	GoFiles    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("archtest needs the go command on PATH to list packages")
	}
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func TestEveryPackageHasDoc(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package comment: add a doc.go saying what it is for", p.ImportPath)
		}
		hasDocGo := false
		for _, f := range p.GoFiles {
			hasDocGo = hasDocGo || f == "doc.go"
		}
		// Commands keep their usage comment in main.go, as Go commands do.
		if !hasDocGo && len(p.GoFiles) > 0 && !strings.Contains(p.ImportPath, "/cmd/") {
			t.Errorf("package %s has no doc.go", p.ImportPath)
		}
	}
}

// layer gives each top-level package its place in docs/architecture.md's
// drawing; a package may import only project packages of a strictly lower
// layer, or its own subpackages (directory/server -> directory/store).
var layer = map[string]int{
	"cmd":     7,
	"node":    6,
	"control": 5, "ui": 5,
	"call": 4, "supernode": 4, "dirlink": 4,
	"presence": 3, "reach": 3, "home": 3, "admission": 3, "contacts": 3, "chat": 3, "voicemail": 3,
	"signalling": 2, "media": 2, "transfer": 2, "dsp": 2, "relay": 2, "directory": 2,
	"crypto": 1, "audio": 1, "events": 1, "netwatch": 1, "autostart": 1, "policyfile": 1,
}

// leaves are subpackages split out of a layer's package to keep it in its
// budget, with the only project packages each may import (none: a leaf is
// a small engine its parent drives, testable alone).
var leaves = map[string][]string{
	"media/jitterbuf": nil, // the jitter buffer package media drives
}

func TestLeavesImportOnlyTheirList(t *testing.T) {
	found := map[string]bool{}
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		allowed, ok := leaves[rel]
		if !ok {
			continue
		}
		found[rel] = true
		for _, imp := range p.Imports {
			dep, project := strings.CutPrefix(imp, module+"/")
			if project && !slices.Contains(allowed, dep) {
				t.Errorf("%s imports %s: a leaf imports only %v of the project (archtest's leaves table)", p.ImportPath, imp, allowed)
			}
		}
	}
	for l := range leaves {
		if !found[l] {
			t.Errorf("leaf %s is listed but does not exist", l)
		}
	}
}

// sharedHelpers are the internal/ packages product code may import: small
// helpers every layer uses (one strict wire reader and framer, one atomic
// file write, one pion-to-slog adapter). They import no project package
// themselves (TestSharedHelpersImportNothing). Every other internal/ package
// is a test harness.
var sharedHelpers = map[string]bool{
	"internal/wire":       true,
	"internal/atomicfile": true,
	"internal/pionlog":    true,
	"internal/brief":      true,
	"internal/sqlitefile": true, // contacts.db's opener: contacts and chat only (TestNoSQLInClient)
	"internal/p2plog":     true,
	"internal/p2phost":    true, // the host options node and its benchmarks share
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestSharedHelpersImportNothing(t *testing.T) {
	found := map[string]bool{}
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		if !sharedHelpers[rel] {
			continue
		}
		found[rel] = true
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") {
				t.Errorf("shared helper %s imports %s: helpers sit below every layer and import no project package", p.ImportPath, imp)
			}
		}
	}
	for h := range sharedHelpers {
		if !found[h] {
			t.Errorf("shared helper %s is listed but does not exist", h)
		}
	}
}

func top(importPath string) string {
	rest := strings.TrimPrefix(importPath, module+"/")
	top, _, _ := strings.Cut(rest, "/")
	return top
}

func TestImportsPointDown(t *testing.T) {
	for _, p := range listPackages(t) {
		from := top(p.ImportPath)
		if from == "internal" {
			continue // test harnesses may use any package they test
		}
		lf, ok := layer[from]
		if !ok {
			t.Errorf("package %s is in no layer of docs/architecture.md; add its folder to archtest's layer table", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to := top(imp)
			if to == "internal" {
				if !sharedHelpers[strings.TrimPrefix(imp, module+"/")] {
					t.Errorf("%s imports %s: internal/ holds test harnesses, for tests only (shared helpers for product code: %v)", p.ImportPath, imp, sortedKeys(sharedHelpers))
				}
				continue
			}
			if to == from {
				continue
			}
			if lt := layer[to]; lt >= lf {
				t.Errorf("%s imports %s: arrows must point down (%s is layer %d, %s layer %d)", p.ImportPath, imp, from, lf, to, lt)
			}
		}
	}
}

// The client binary links no server SQL driver (PostgreSQL, cgo SQLite):
// its one database is the home's contacts.db, through package contacts and
// the pure-Go modernc SQLite, and no other client package uses database/sql
// itself. directory/server depends on no project package but directory, its
// store and crypto.
func TestNoSQLInClient(t *testing.T) {
	// database/sql/driver alone is no driver: github.com/google/uuid (via pion)
	// imports it for its Scanner/Valuer methods.
	serverDrivers := []string{"github.com/jackc/pgx", "github.com/mattn/go-sqlite3", "github.com/lib/pq"}
	for _, p := range listPackages(t) {
		if strings.HasPrefix(p.ImportPath, module+"/directory/server") || strings.HasPrefix(p.ImportPath, module+"/directory/store") || strings.HasPrefix(p.ImportPath, module+"/cmd/peercall-directory") {
			if strings.HasPrefix(p.ImportPath, module+"/directory/server") {
				for _, imp := range p.Imports {
					if strings.HasPrefix(imp, module+"/") && !strings.HasPrefix(imp, module+"/directory") && !strings.HasPrefix(imp, module+"/crypto") {
						t.Errorf("%s imports %s: the directory server depends only on directory, directory/store and crypto", p.ImportPath, imp)
					}
				}
			}
			continue
		}
		if strings.HasPrefix(p.ImportPath, module+"/internal") {
			continue
		}
		for _, d := range p.Deps {
			for _, drv := range serverDrivers {
				if d == drv || strings.HasPrefix(d, drv+"/") {
					t.Errorf("%s links %s: clients must not link a server SQL driver", p.ImportPath, d)
				}
			}
		}
		// The client's one database is the home's contacts.db: package
		// contacts' tables and package chat's beside them.
		if p.ImportPath == module+"/contacts" || p.ImportPath == module+"/chat" {
			continue
		}
		for _, imp := range p.Imports {
			if imp == "database/sql" || strings.HasPrefix(imp, "modernc.org/sqlite") || imp == module+"/internal/sqlitefile" {
				t.Errorf("%s imports %s: the client's one database is contacts.db, opened by packages contacts and chat only", p.ImportPath, imp)
			}
		}
	}
}

// maxPackageLines is the budget of non-test lines per package, and
// maxNodeLines node's: node is the wiring of a peer, and a job that grows
// there belongs in a package of its own (as the identity upkeep did:
// check-in, renewal and revocations are package dirlink).
const (
	maxPackageLines = 2500
	maxNodeLines    = 2000
)

// maxCLILines is cmd/peercall's: the client's command table, about 40
// commands in a small file each (flags, one control request, printing).
// Work that is not the command line moves out (autostart did); the
// budget is not to grow past 2,700 but to come down as the messaging
// commands (chat, inbox, voicemail, play, send, transfers) share their
// printing.
const maxCLILines = 2700

func TestPackageSize(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		lines := 0
		for _, f := range p.GoFiles {
			data, err := os.ReadFile(filepath.Join("../..", rel, f))
			if err != nil {
				t.Fatal(err)
			}
			lines += bytes.Count(data, []byte("\n"))
		}
		limit := maxPackageLines
		if rel == "node" {
			limit = maxNodeLines
		}
		if rel == "cmd/peercall" {
			limit = maxCLILines
		}
		if lines > limit {
			t.Errorf("package %s has %d non-test lines, over its budget of %d: split a job out into a package of its own", p.ImportPath, lines, limit)
		}
	}
}
