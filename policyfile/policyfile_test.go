package policyfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type relaySection struct {
	Mode    string        `toml:"mode"`
	MaxKbps int           `toml:"max_kbps"`
	Idle    time.Duration `toml:"idle_timeout"`
}

type chatSection struct {
	Enabled *bool `toml:"enabled"`
}

// TestParse: the file is read once and each section decoded strictly; the
// errors name what is wrong.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		err        string // from Parse or Decode
		check      func(relaySection, chatSection) bool
	}{
		{"empty", "", "", func(r relaySection, c chatSection) bool { return r == relaySection{} && c.Enabled == nil }},
		{"both", "[relay]\nmode = \"off\"\nmax_kbps = 10\nidle_timeout = \"30s\"\n[chat]\nenabled = false\n[transfer]\nenabled = true\n", "",
			func(r relaySection, c chatSection) bool {
				return r.Mode == "off" && r.MaxKbps == 10 && r.Idle == 30*time.Second && c.Enabled != nil && !*c.Enabled
			}},
		{"unknown section", "[audio]\nx = 1\n", "unknown section [audio]", nil},
		{"top-level key", "enabled = false\n", "unknown section [enabled]", nil},
		{"section not a table", "chat = 1\n", "want a section [chat]", nil},
		{"unknown key", "[chat]\nenable = false\n", "unknown setting chat.enable", nil},
		{"nested unknown key", "[relay]\nmode = \"off\"\n[relay.extra]\nx = 1\n", "unknown setting relay.extra", nil},
		{"wrong type", "[chat]\nenabled = \"no\"\n", "not a valid policy", nil},
		{"not toml", "[relay\n", "not a valid policy", nil},
		{"too large", strings.Repeat("#", MaxSize+1), "larger than a policy file", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r relaySection
			var c chatSection
			f, err := Parse([]byte(tc.file))
			if err == nil {
				err = f.Decode("relay", &r)
			}
			if err == nil {
				err = f.Decode("chat", &c)
			}
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("err %v, want %q", err, tc.err)
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.err == "" && !tc.check(r, c):
				t.Fatalf("decoded %+v %+v", r, c)
			}
		})
	}
}

// TestLoad: a missing file is no policy; a bad one is an error naming it.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	f, err := Load(filepath.Join(dir, "none.toml"))
	if err != nil || f.Path != "" || f.Has("chat") || f.Source() != "admin policy" {
		t.Fatalf("missing file: %+v, %v", f, err)
	}
	var c chatSection
	if err := f.Decode("chat", &c); err != nil || c.Enabled != nil || f.IsDefined("chat", "enabled") {
		t.Fatalf("no policy decodes to nothing: %+v %v", c, err)
	}
	if err := f.Decode("audio", &c); err == nil {
		t.Fatal("decoding a section no policy has worked")
	}
	p := filepath.Join(dir, "policy.toml")
	if err := os.WriteFile(p, []byte("[chat]\nenabled = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err = Load(p); err != nil || f.Path != p || !f.Has("chat") || !f.IsDefined("chat", "enabled") || f.Source() != "admin policy "+p {
		t.Fatalf("good file: %+v, %v", f, err)
	}
	for _, bad := range []struct{ name, data string }{{"typo.toml", "[chatt]\n"}, {"big.toml", strings.Repeat(" ", MaxSize+1)}} {
		path := filepath.Join(dir, bad.name)
		if err := os.WriteFile(path, []byte(bad.data), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("%s: %v, want an error naming the file", bad.name, err)
		}
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("a directory: %v", err)
	}
}

// FuzzParse: parsing and decoding any bytes never panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte("[relay]\nmode = \"off\"\n[chat]\nenabled = false\n"))
	f.Add([]byte("[transfer]\nmax_file_size = 10\n[network]\nrestricted = true\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		var r relaySection
		var c chatSection
		_ = p.Decode("relay", &r)
		_ = p.Decode("chat", &c)
	})
}
