package transfer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		err        string
		check      func(Settings) bool
	}{
		{"empty", "", "", func(s Settings) bool { return s.Enabled == nil }},
		{"other sections are relay's", "[relay]\nmode = \"off\"\n[network]\nrestricted = true\n", "", func(s Settings) bool { return s.Enabled == nil }},
		{"disabled", "[transfer]\nenabled = false\n", "", func(s Settings) bool { return s.Enabled != nil && !*s.Enabled }},
		{"all", "[transfer]\nmax_file_size = 1048576\nallowed_extensions = [\"pdf\", \"\"]\nblocked_extensions = [\"exe\"]\nscan_command = [\"clamdscan\", \"--fdpass\", \"{}\"]\nscan_timeout = \"30s\"\n", "",
			func(s Settings) bool {
				return s.MaxFileSize == 1<<20 && s.ScanTimeout == 30*time.Second && len(s.ScanCommand) == 3
			}},
		{"typo", "[transfer]\nenable = false\n", "unknown setting transfer.enable", nil},
		{"negative size", "[transfer]\nmax_file_size = -1\n", "transfer.max_file_size -1 is negative", nil},
		{"scan without {}", "[transfer]\nscan_command = [\"clamdscan\"]\n", "has no {} argument", nil},
		{"dotted extension", "[transfer]\nblocked_extensions = [\".exe\"]\n", "is not an extension", nil},
		{"short timeout", "[transfer]\nscan_timeout = \"1ms\"\n", "transfer.scan_timeout 1ms is out of range", nil},
		{"wrong type", "[transfer]\nenabled = \"no\"\n", "not a valid policy", nil},
	} {
		s, err := ParsePolicy([]byte(tc.file))
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err == "" && !tc.check(s):
			t.Errorf("%s: settings %+v", tc.name, s)
		}
	}
}

func TestLoadPolicy(t *testing.T) {
	dir := t.TempDir()
	if s, err := LoadPolicy(filepath.Join(dir, "none.toml")); err != nil || s.Enabled != nil {
		t.Fatalf("missing file: %+v, %v", s, err)
	}
	p := filepath.Join(dir, "policy.toml")
	if err := os.WriteFile(p, []byte("[transfer]\nenabld = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPolicy(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("bad file: %v, want an error naming it", err)
	}
}

// TestEffective: the policy only ever tightens the user's settings.
func TestEffective(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		name        string
		user, admin Settings
		want        func(Rules) bool
	}{
		{"defaults", Settings{}, Settings{}, func(r Rules) bool { return r.Enabled && r.MaxFileSize == DefaultMaxFileSize && r.Scan == nil }},
		{"user off", Settings{Enabled: &off}, Settings{Enabled: &on}, func(r Rules) bool { return !r.Enabled && r.Source["enabled"] == "config.toml" }},
		{"admin off", Settings{Enabled: &on}, Settings{Enabled: &off}, func(r Rules) bool { return !r.Enabled && r.Source["enabled"] == "policy.toml" }},
		{"smaller size wins", Settings{MaxFileSize: 100}, Settings{MaxFileSize: 1000}, func(r Rules) bool { return r.MaxFileSize == 100 && r.Source["max_file_size"] == "config.toml" }},
		{"admin size caps", Settings{MaxFileSize: 1 << 40}, Settings{MaxFileSize: 1000}, func(r Rules) bool { return r.MaxFileSize == 1000 }},
		{"blocked lists join", Settings{BlockedExtensions: []string{"js"}}, Settings{BlockedExtensions: []string{"exe"}}, func(r Rules) bool { return len(r.Blocked) == 2 }},
		{"allowed lists meet", Settings{AllowedExtensions: []string{"pdf", "js"}}, Settings{AllowedExtensions: []string{"pdf", "txt"}}, func(r Rules) bool { return len(r.Allowed) == 1 && r.Allowed[0] == "pdf" }},
		{"nothing allowed by both", Settings{AllowedExtensions: []string{"js"}}, Settings{AllowedExtensions: []string{"pdf"}}, func(r Rules) bool { return !r.Enabled }},
		{"admin scan replaces the user's", Settings{ScanCommand: []string{"true", "{}"}}, Settings{ScanCommand: []string{"clamdscan", "{}"}, ScanTimeout: 10 * time.Second},
			func(r Rules) bool {
				return r.Scan[0] == "clamdscan" && r.ScanTimeout == 10*time.Second && r.Source["scan_command"] == "policy.toml"
			}},
		{"user scan", Settings{ScanCommand: []string{"true", "{}"}, ScanTimeout: 5 * time.Second}, Settings{}, func(r Rules) bool { return r.Scan[0] == "true" && r.ScanTimeout == 5*time.Second }},
	} {
		if r := Effective(tc.user, "config.toml", tc.admin, "policy.toml"); !tc.want(r) {
			t.Errorf("%s: %+v", tc.name, r)
		}
	}
}
