package relay

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/policyfile"
	"github.com/peercall/peercall/relay/peerfilter"

	"github.com/BurntSushi/toml"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"mode on", func(c *Config) { c.Mode = ModeOn }, ""},
		{"bad mode", func(c *Config) { c.Mode = "sometimes" }, "relay.mode"},
		{"negative uptime", func(c *Config) { c.MinUptime = -time.Second }, "relay.min_uptime"},
		{"cpu load zero", func(c *Config) { c.MaxCPULoad = 0 }, "relay.max_cpu_load"},
		{"cpu load above 1", func(c *Config) { c.MaxCPULoad = 1.5 }, "relay.max_cpu_load"},
		{"kbps zero", func(c *Config) { c.MaxKbps = 0 }, "relay.max_kbps"},
		{"sessions zero", func(c *Config) { c.MaxSessions = 0 }, "relay.max_sessions"},
		{"duration tiny", func(c *Config) { c.MaxSessionDuration = time.Millisecond }, "relay.max_session_duration"},
		{"per user zero", func(c *Config) { c.MaxSessionsPerUser = 0 }, "relay.max_sessions_per_user"},
		{"turn port", func(c *Config) { c.TURNPort = 70000 }, "relay.turn_port"},
		{"tls port same", func(c *Config) { c.TURNTLSPort = c.TURNPort }, "relay.turn_tls_port"},
		{"tls 443", func(c *Config) { c.TURNTLSPort = 443 }, ""},
		{"port range inverted", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 51000, 50000 }, "relay.relay_port_min"},
		{"port range half", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 0, 50000 }, "relay.relay_port_min"},
		{"port range ephemeral", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 0, 0 }, ""},
		{"ttl zero", func(c *Config) { c.CredentialTTL = 0 }, "relay.credential_ttl"},
		{"ttl two days", func(c *Config) { c.CredentialTTL = 48 * time.Hour }, "relay.credential_ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tt.wantErr)
			}
		})
	}
}

// TestConfigBounds: every numeric setting is checked against its bounds,
// at both ends, and the error names the setting and the allowed range.
func TestConfigBounds(t *testing.T) {
	const maxInt = int(^uint(0) >> 1)
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string // "" = valid; else the start of the message
	}{
		{"max_kbps 2^63-1", func(c *Config) { c.MaxKbps = maxInt }, "relay.max_kbps 9223372036854775807 is out of range: use 8..10000000"},
		{"max_kbps 10 Gbit/s", func(c *Config) { c.MaxKbps = 10_000_000 }, ""},
		{"max_kbps 7", func(c *Config) { c.MaxKbps = 7 }, "relay.max_kbps 7 is out of range: use 8..10000000"},
		{"max_kbps 8", func(c *Config) { c.MaxKbps = 8 }, ""},
		{"min_upstream_kbps huge", func(c *Config) { c.MinUpstreamKbps = maxInt }, "relay.min_upstream_kbps 9223372036854775807 is out of range: use 0..10000000"},
		{"min_upstream_kbps negative", func(c *Config) { c.MinUpstreamKbps = -1 }, "relay.min_upstream_kbps -1 is out of range"},
		{"min_upstream_kbps 0", func(c *Config) { c.MinUpstreamKbps = 0 }, ""},
		{"max_sessions huge", func(c *Config) { c.MaxSessions = maxInt }, "relay.max_sessions 9223372036854775807 is out of range: use 1..10000"},
		{"max_sessions beyond the port range", func(c *Config) { c.MaxSessions = 1001 }, "relay.max_sessions 1001 is more than the 1000 ports"},
		{"max_sessions 1000 on 1000 ports", func(c *Config) { c.MaxSessions = 1000 }, ""},
		{"max_sessions 10000 on ephemeral ports", func(c *Config) { c.MaxSessions, c.RelayPortMin, c.RelayPortMax = 10000, 0, 0 }, ""},
		{"max_sessions_per_user huge", func(c *Config) { c.MaxSessionsPerUser = maxInt }, "relay.max_sessions_per_user 9223372036854775807 is out of range: use 1..10000"},
		{"max_sessions_per_user above max_sessions", func(c *Config) { c.MaxSessions, c.MaxSessionsPerUser = 1, 4 }, ""},
		{"max_session_duration huge", func(c *Config) { c.MaxSessionDuration = 1<<63 - 1 }, "relay.max_session_duration 2562047h47m16.854775807s is out of range: use 1s..24h0m0s"},
		{"max_session_duration 24h", func(c *Config) { c.MaxSessionDuration = 24 * time.Hour }, ""},
		{"max_session_duration negative", func(c *Config) { c.MaxSessionDuration = -time.Hour }, "relay.max_session_duration -1h0m0s is out of range"},
		{"min_uptime a week", func(c *Config) { c.MinUptime = 7 * 24 * time.Hour }, ""},
		{"min_uptime a year", func(c *Config) { c.MinUptime = 365 * 24 * time.Hour }, "relay.min_uptime 8760h0m0s is out of range: use 0s..168h0m0s"},
		{"credential_ttl 0", func(c *Config) { c.CredentialTTL = 0 }, "relay.credential_ttl 0s is out of range: use 1s..24h0m0s"},
		{"idle_timeout 0", func(c *Config) { c.IdleTimeout = 0 }, "relay.idle_timeout 0s is out of range: use 1s..1h0m0s"},
		{"idle_timeout 1h", func(c *Config) { c.IdleTimeout = time.Hour }, ""},
		{"idle_timeout 2h", func(c *Config) { c.IdleTimeout = 2 * time.Hour }, "relay.idle_timeout 2h0m0s is out of range"},
		{"allocation_lifetime 0", func(c *Config) { c.AllocationLifetime = 0 }, "relay.allocation_lifetime 0s is out of range: use 1s..1h0m0s"},
		{"allocation_lifetime 1h", func(c *Config) { c.AllocationLifetime = time.Hour }, ""},
		{"allocation_lifetime 10h", func(c *Config) { c.AllocationLifetime = 10 * time.Hour }, "relay.allocation_lifetime 10h0m0s is out of range"},
		{"max_cpu_load NaN-ish 2", func(c *Config) { c.MaxCPULoad = 2 }, "relay.max_cpu_load 2 is out of range"},
		{"turn_port -1", func(c *Config) { c.TURNPort = -1 }, "relay.turn_port -1 is out of range: use 0..65535"},
		{"turn_port 65535", func(c *Config) { c.TURNPort = 65535 }, ""},
		{"turn_tls_port 65536", func(c *Config) { c.TURNTLSPort = 65536 }, "relay.turn_tls_port 65536 is out of range: use 0..65535"},
		{"relay ports beyond 65535", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 65000, 70000 }, "relay.relay_port_min..relay_port_max 65000..70000 is not a port range"},
		{"allowed_peer_ranges", func(c *Config) { c.AllowedPeerRanges = peerfilter.NewRanges("198.18.0.0/15", "fd00::/8") }, ""},
		{"allowed_peer_ranges not a CIDR", func(c *Config) { c.AllowedPeerRanges = peerfilter.NewRanges("10.0.0.1") }, "relay.allowed_peer_ranges: \"10.0.0.1\" is not a CIDR range"},
		{"allowed_peer_ranges host bits", func(c *Config) { c.AllowedPeerRanges = peerfilter.NewRanges("10.0.0.1/8") }, "relay.allowed_peer_ranges: \"10.0.0.1/8\" has host bits set: write \"10.0.0.0/8\""},
		{"allowed_peer_ranges too many", func(c *Config) {
			c.AllowedPeerRanges = peerfilter.NewRanges(strings.Split(strings.Repeat("10.0.0.0/8,", 65), ",")[:65]...)
		}, "relay.allowed_peer_ranges has 65 ranges: use at most 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Fatalf("Validate() = %v, want %q...", err, tt.wantErr)
			}
		})
	}
}

func TestConfigTOML(t *testing.T) {
	var c struct {
		Relay Config `toml:"relay"`
	}
	c.Relay = DefaultConfig()
	in := "[relay]\nmode = \"on\"\nmin_uptime = \"1h\"\nmax_kbps = 1500\nmax_session_duration = \"90m\"\n"
	if _, err := toml.Decode(in, &c); err != nil {
		t.Fatal(err)
	}
	if c.Relay.Mode != ModeOn || c.Relay.MinUptime != time.Hour || c.Relay.MaxKbps != 1500 || c.Relay.MaxSessionDuration != 90*time.Minute {
		t.Fatalf("decoded %+v", c.Relay)
	}
	if c.Relay.MaxSessions != DefaultConfig().MaxSessions {
		t.Fatalf("max_sessions lost its default: %d", c.Relay.MaxSessions)
	}
	if _, err := toml.Decode("[relay]\nmode = \"maybe\"\n", &c); err == nil || !strings.Contains(err.Error(), "maybe") {
		t.Fatalf("bad mode decoded without error: %v", err)
	}
}

func TestLoadPolicy(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		file    *string // nil: no file
		wantErr string
		check   func(t *testing.T, p AdminPolicy)
	}{
		{name: "missing file is no policy", check: func(t *testing.T, p AdminPolicy) {
			if p != (AdminPolicy{}) {
				t.Fatalf("policy = %+v, want zero", p)
			}
		}},
		{name: "empty file", file: ptr(""), check: func(t *testing.T, p AdminPolicy) {
			if p.Relay != (PolicyRelay{}) || p.Network.Restricted {
				t.Fatalf("policy = %+v", p)
			}
		}},
		{name: "full", file: ptr(`
[relay]
mode = "off"
max_kbps = 2000
max_sessions = 10
max_sessions_per_user = 2
max_session_duration = "1h"
credential_ttl = "5m"
min_uptime = "2h"
min_upstream_kbps = 5000
max_cpu_load = 0.5
turn_port = 3479
turn_tls_port = 443
relay_port_min = 40000
relay_port_max = 40999
idle_timeout = "30s"
allocation_lifetime = "1m"
allowed_peer_ranges = ["10.20.0.0/16"]
[network]
restricted = true
`), check: func(t *testing.T, p AdminPolicy) {
			want := PolicyRelay{Mode: ModeOff, MaxKbps: 2000, MaxSessions: 10, MaxSessionsPerUser: 2, MaxSessionDuration: time.Hour,
				CredentialTTL: 5 * time.Minute, MinUptime: 2 * time.Hour, MinUpstreamKbps: 5000, MaxCPULoad: 0.5,
				TURNPort: 3479, TURNTLSPort: 443, RelayPortMin: 40000, RelayPortMax: 40999,
				IdleTimeout: 30 * time.Second, AllocationLifetime: time.Minute,
				AllowedPeerRanges: peerfilter.NewRanges("10.20.0.0/16"), AllowedPeerRangesSet: true}
			if p.Relay != want || !p.Network.Restricted || p.Path == "" {
				t.Fatalf("policy = %+v", p)
			}
		}},
		{name: "unknown key", file: ptr("[relay]\nmax_kpbs = 10\n"), wantErr: "relay.max_kpbs"},
		{name: "unknown section", file: ptr("[audio]\nx = 1\n"), wantErr: "audio"},
		{name: "bad mode", file: ptr("[relay]\nmode = \"always\"\n"), wantErr: "always"},
		{name: "wrong type", file: ptr("[network]\nrestricted = \"yes\"\n"), wantErr: "restricted"},
		{name: "negative cap", file: ptr("[relay]\nmax_sessions = -1\n"), wantErr: "relay.max_sessions"},
		{name: "half port range", file: ptr("[relay]\nrelay_port_min = 40000\n"), wantErr: "relay_port_min"},
		{name: "max_kbps 2^63-1", file: ptr("[relay]\nmax_kbps = 9223372036854775807\n"), wantErr: "relay.max_kbps 9223372036854775807 is out of range: use 8..10000000"},
		{name: "idle_timeout too long", file: ptr("[relay]\nidle_timeout = \"2h\"\n"), wantErr: "relay.idle_timeout 2h0m0s is out of range"},
		{name: "bad peer range", file: ptr("[relay]\nallowed_peer_ranges = [\"10.0.0.1/8\"]\n"), wantErr: "has host bits set"},
		{name: "empty peer ranges are set", file: ptr("[relay]\nallowed_peer_ranges = []\n"), check: func(t *testing.T, p AdminPolicy) {
			if !p.Relay.AllowedPeerRangesSet || p.Relay.AllowedPeerRanges.Len() != 0 {
				t.Fatalf("policy = %+v, want an empty list that is set", p.Relay)
			}
		}},
		{name: "not toml", file: ptr("[[["), wantErr: "not a valid policy"},
		{name: "too large", file: ptr("#" + strings.Repeat("x", policyfile.MaxSize)), wantErr: "larger than"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "policy"+string(rune('a'+i))+".toml")
			if tt.file != nil {
				if err := os.WriteFile(path, []byte(*tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p, err := LoadPolicy(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("LoadPolicy = %v, want an error naming %q and the file", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
		})
	}
}

func TestLoadPolicyUnreadable(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be: reading it fails for root too.
	path := filepath.Join(dir, "policy.toml")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPolicy(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("LoadPolicy(directory) = %v, want an error naming the path", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestEffective(t *testing.T) {
	user := DefaultConfig()
	user.Mode = ModeOn
	user.AllowedPeerRanges = peerfilter.NewRanges("192.168.0.0/16")
	tests := []struct {
		name    string
		policy  AdminPolicy
		check   func(c Config) bool
		reasons []string // substrings, one per expected reason, in order
	}{
		{"no policy", AdminPolicy{}, func(c Config) bool { return c == user }, nil},
		{"mode off", AdminPolicy{Relay: PolicyRelay{Mode: ModeOff}}, func(c Config) bool { return c.Mode == ModeOff }, []string{"relay.mode on -> off"}},
		{"mode auto is a ceiling", AdminPolicy{Relay: PolicyRelay{Mode: ModeAuto}}, func(c Config) bool { return c.Mode == ModeAuto }, []string{"relay.mode on -> auto"}},
		{"admin on does not force", AdminPolicy{Relay: PolicyRelay{Mode: ModeOn}}, func(c Config) bool { return c == user }, nil},
		{"restricted", AdminPolicy{Network: PolicyNetwork{Restricted: true}}, func(c Config) bool { return c.Mode == ModeOff }, []string{"network.restricted"}},
		{"caps lower", AdminPolicy{Relay: PolicyRelay{MaxKbps: 2000, MaxSessions: 10, MaxSessionDuration: time.Hour}},
			func(c Config) bool {
				return c.MaxKbps == 2000 && c.MaxSessions == 10 && c.MaxSessionDuration == time.Hour
			},
			[]string{"max_kbps capped 4000 -> 2000", "max_sessions capped 50 -> 10", "max_session_duration capped 4h0m0s -> 1h0m0s"}},
		{"caps above the user's change nothing", AdminPolicy{Relay: PolicyRelay{MaxKbps: 100000, MaxSessions: 1000}}, func(c Config) bool { return c == user }, nil},
		{"floors raise", AdminPolicy{Relay: PolicyRelay{MinUptime: 2 * time.Hour, MinUpstreamKbps: 10000}},
			func(c Config) bool { return c.MinUptime == 2*time.Hour && c.MinUpstreamKbps == 10000 },
			[]string{"min_uptime raised", "min_upstream_kbps raised"}},
		{"ports override", AdminPolicy{Relay: PolicyRelay{TURNTLSPort: 443, RelayPortMin: 40000, RelayPortMax: 40099}},
			func(c Config) bool { return c.TURNTLSPort == 443 && c.RelayPortMin == 40000 && c.RelayPortMax == 40099 },
			[]string{"turn_tls_port set 0 -> 443", "relay_port_min", "relay_port_max"}},
		{"a small port range caps max_sessions", AdminPolicy{Relay: PolicyRelay{RelayPortMin: 40000, RelayPortMax: 40009}},
			func(c Config) bool { return c.MaxSessions == 10 && c.RelayPortMax == 40009 },
			[]string{"relay_port_min", "relay_port_max", "max_sessions capped 50 -> 10"}},
		{"abandoned allocations caps", AdminPolicy{Relay: PolicyRelay{IdleTimeout: 20 * time.Second, AllocationLifetime: time.Minute}},
			func(c Config) bool { return c.IdleTimeout == 20*time.Second && c.AllocationLifetime == time.Minute },
			[]string{"idle_timeout capped 1m0s -> 20s", "allocation_lifetime capped 2m0s -> 1m0s"}},
		{"peer ranges replaced", AdminPolicy{Relay: PolicyRelay{AllowedPeerRanges: peerfilter.NewRanges("10.20.0.0/16"), AllowedPeerRangesSet: true}},
			func(c Config) bool { return c.AllowedPeerRanges == peerfilter.NewRanges("10.20.0.0/16") },
			[]string{"allowed_peer_ranges set [192.168.0.0/16] -> [10.20.0.0/16]"}},
		{"peer ranges closed", AdminPolicy{Relay: PolicyRelay{AllowedPeerRangesSet: true}},
			func(c Config) bool { return c.AllowedPeerRanges.Len() == 0 },
			[]string{"allowed_peer_ranges set [192.168.0.0/16] -> []"}},
		{"peer ranges unset keep the user's", AdminPolicy{Relay: PolicyRelay{AllowedPeerRanges: peerfilter.NewRanges("10.20.0.0/16")}},
			func(c Config) bool { return c == user }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.policy.Path = "/etc/peercall/policy.toml"
			c, reasons := Effective(user, tt.policy)
			if !tt.check(c) {
				t.Fatalf("Effective = %+v", c)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("effective config invalid: %v", err)
			}
			if len(reasons) != len(tt.reasons) {
				t.Fatalf("reasons = %q, want %d matching %q", reasons, len(tt.reasons), tt.reasons)
			}
			for i, want := range tt.reasons {
				if !strings.Contains(reasons[i], want) || !strings.Contains(reasons[i], tt.policy.Path) {
					t.Errorf("reason %d = %q, want it to contain %q and the policy path", i, reasons[i], want)
				}
			}
		})
	}
}

func TestCircuitResourcesAndProviderKey(t *testing.T) {
	c := DefaultConfig()
	r := CircuitResources(c)
	if r.Limit.Duration != c.MaxSessionDuration || r.MaxReservations != 4*c.MaxSessions || r.Limit.Data <= 0 {
		t.Fatalf("CircuitResources = %+v, limit %+v", r, *r.Limit)
	}
	k1, k2 := ProviderKey(), ProviderKey()
	if !k1.Equals(k2) || !k1.Defined() {
		t.Fatalf("ProviderKey not stable: %v %v", k1, k2)
	}
}

func TestLoadPolicyDefaultPath(t *testing.T) {
	if _, err := os.Stat(DefaultPolicyPath); err == nil {
		t.Skipf("%s exists on this machine; the missing-file case cannot be shown here", DefaultPolicyPath)
	}
	p, err := LoadPolicy("")
	if err != nil || p != (AdminPolicy{}) {
		t.Fatalf("LoadPolicy(\"\") with no %s = %+v, %v; want no policy", DefaultPolicyPath, p, err)
	}
}

// FuzzParsePolicy: the policy parser never panics, and an accepted policy
// only ever tightens the user's limits.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("[relay]\nmode = \"off\"\nmax_kbps = 2000\n[network]\nrestricted = true\n"))
	f.Add([]byte("[relay]\nmax_sessions = 3\nmax_session_duration = \"1h\"\nmin_uptime = \"2h\"\n"))
	f.Add([]byte("[relay]\nrelay_port_min = 40000\nrelay_port_max = 40999\nmax_cpu_load = 0.5\n"))
	f.Add([]byte("[relay]\nidle_timeout = \"10s\"\nallowed_peer_ranges = [\"10.0.0.0/8\"]\n"))
	f.Add([]byte("x = 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			return
		}
		u := DefaultConfig()
		u.Mode = ModeOn
		c, _ := Effective(u, p)
		if c.MaxKbps > u.MaxKbps || c.MaxSessions > u.MaxSessions || c.MaxSessionsPerUser > u.MaxSessionsPerUser ||
			c.MaxSessionDuration > u.MaxSessionDuration || c.CredentialTTL > u.CredentialTTL || c.MaxCPULoad > u.MaxCPULoad ||
			c.IdleTimeout > u.IdleTimeout || c.AllocationLifetime > u.AllocationLifetime ||
			c.MinUptime < u.MinUptime || c.MinUpstreamKbps < u.MinUpstreamKbps || modeRank(c.Mode) > modeRank(u.Mode) {
			t.Fatalf("policy %+v loosened the config: %+v", p, c)
		}
		if p.Network.Restricted && c.Mode != ModeOff {
			t.Fatalf("restricted policy left mode %s", c.Mode)
		}
	})
}
