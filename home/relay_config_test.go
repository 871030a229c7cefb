package home

import (
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/relay"
)

// TestRelayConfigTOML: [relay] in config.toml sets the relay package's
// settings and upstream_kbps, survives Marshal, and a wrong value is
// refused naming its key.
func TestRelayConfigTOML(t *testing.T) {
	cfg, err := ParseConfig([]byte("[relay]\nmode = \"on\"\nmin_uptime = \"1h\"\nmax_sessions = 3\nupstream_kbps = 5000\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := *cfg.Relay
	if r.Mode != relay.ModeOn || r.MinUptime != time.Hour || r.MaxSessions != 3 || r.UpstreamKbps != 5000 || r.MaxKbps != relay.DefaultConfig().MaxKbps {
		t.Fatalf("parsed [relay] %+v", r)
	}
	b, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseConfig(b)
	if err != nil {
		t.Fatalf("a marshalled config does not parse: %v\n%s", err, b)
	}
	if *again.Relay != *cfg.Relay {
		t.Fatalf("round trip: %+v, want %+v", *again.Relay, *cfg.Relay)
	}
	for _, tc := range []struct{ toml, key string }{
		{"[relay]\nmode = \"sometimes\"\n", "mode"},
		{"[relay]\nmax_sessions = 0\n", "relay.max_sessions"},
		{"[relay]\nupstream_kbps = -1\n", "relay.upstream_kbps"},
		{"[relay]\nmax_session = 3\n", "relay.max_session"},
	} {
		if _, err := ParseConfig([]byte(tc.toml)); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: err %v, want one naming %s", tc.toml, err, tc.key)
		}
	}
}
