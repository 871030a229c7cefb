package home

import (
	"crypto/ed25519"
	"slices"
	"strings"
	"testing"

	"github.com/peercall/peercall/crypto"
)

func testDirectoryKey(t *testing.T) string {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return crypto.EncodePublicKey(key.Public().(ed25519.PublicKey))
}

func TestParseConfig(t *testing.T) {
	key := testDirectoryKey(t)
	tests := []struct {
		name    string
		toml    string
		wantErr string // a substring naming the bad setting; "" for success
		check   func(t *testing.T, c Config)
	}{
		{name: "empty file gives defaults", toml: "", check: func(t *testing.T, c Config) {
			if !slices.Equal(c.Network.Listen, []string{DefaultListen}) || c.Directory.URL != "" {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{name: "full", toml: `
[directory]
url = "https://dir.example.net:7443"
key = "` + key + `"
[network]
listen = ["127.0.0.1:0", "[::1]:7070"]
reachable_ranges = ["10.0.0.0/8"]
restricted = true
`, check: func(t *testing.T, c Config) {
			if c.Directory.Key != key || !slices.Equal(c.Network.Listen, []string{"127.0.0.1:0", "[::1]:7070"}) ||
				!c.Network.Restricted || !slices.Equal(c.Network.ReachableRanges, []string{"10.0.0.0/8"}) {
				t.Errorf("parsed = %+v", c)
			}
		}},
		{name: "unknown setting", toml: "[network]\nlisten_addr = \"x\"\n", wantErr: "network.listen_addr"},
		{name: "url without key", toml: "[directory]\nurl = \"https://d.example\"\n", wantErr: "directory.key"},
		{name: "bad key", toml: "[directory]\nurl = \"https://d.example\"\nkey = \"ed25519:nope\"\n", wantErr: "directory.key"},
		{name: "plain http to a remote host", toml: "[directory]\nurl = \"http://d.example\"\nkey = \"" + key + "\"\n", wantErr: "directory.url"},
		{name: "bad listen", toml: "[network]\nlisten = [\"7070\"]\n", wantErr: "network.listen"},
		{name: "listen host not an IP", toml: "[network]\nlisten = [\"example.net:7070\"]\n", wantErr: "network.listen"},
		{name: "listen port out of range", toml: "[network]\nlisten = [\"0.0.0.0:70000\"]\n", wantErr: "network.listen"},
		{name: "empty listen", toml: "[network]\nlisten = []\n", wantErr: "network.listen"},
		{name: "bad range", toml: "[network]\nreachable_ranges = [\"10.0.0.0\"]\n", wantErr: "network.reachable_ranges"},
		{name: "wrong type", toml: "[network]\nrestricted = \"yes\"\n", wantErr: "restricted"},
		{name: "not TOML", toml: "[[[", wantErr: "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tt.toml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestConfigRoundTrip(t *testing.T) {
	c := DefaultConfig()
	c.Directory = DirectoryConfig{URL: "http://127.0.0.1:7443", Key: testDirectoryKey(t)}
	c.Network.ReachableRanges = []string{"198.18.0.0/15"}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConfig(data)
	if err != nil {
		t.Fatalf("parse own output: %v\n%s", err, data)
	}
	if back.Directory != c.Directory || !slices.Equal(back.Network.Listen, c.Network.Listen) ||
		!slices.Equal(back.Network.ReachableRanges, c.Network.ReachableRanges) {
		t.Errorf("round trip = %+v, want %+v", back, c)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("[directory]\nurl = \"https://d.example\"\nkey = \"ed25519:AAAA\"\n"))
	f.Add([]byte("[network]\nlisten = [\"0.0.0.0:7070\"]\nreachable_ranges = [\"10.0.0.0/8\"]\n"))
	f.Add([]byte("[[["))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseConfig accepted a config Validate refuses: %v", err)
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseConfig(out); err != nil {
			t.Fatalf("own output does not parse: %v\n%s", err, out)
		}
	})
}

func TestAudioConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		toml string
		want AudioConfig
	}{
		{"defaults", "", DefaultAudioConfig()},
		{"echo cancellation off", "[audio]\necho_cancellation = false\n",
			AudioConfig{NoiseSuppression: true, AutoGain: true, HighPass: true}},
		{"everything off, virtual on", "[audio]\necho_cancellation = false\nnoise_suppression = false\nauto_gain = false\nhigh_pass = false\nprocess_virtual = true\n",
			AudioConfig{ProcessVirtual: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tc.toml))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.AudioSection(); got != tc.want {
				t.Errorf("[audio] %+v, want %+v", got, tc.want)
			}
		})
	}
	if _, err := ParseConfig([]byte("[audio]\necho = true\n")); err == nil {
		t.Error("an unknown [audio] key was accepted")
	}
}
