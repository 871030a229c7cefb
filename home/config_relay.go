package home

import (
	"fmt"

	"github.com/peercall/peercall/relay"
)

// RelayConfig is config.toml's [relay] section: the relay package's
// settings (mode, thresholds, limits, ports) plus the upstream bandwidth the
// user declares, which promotion compares with relay.min_upstream_kbps.
type RelayConfig struct {
	relay.Config
	// UpstreamKbps is this machine's upstream bandwidth in kbit/s, as the
	// user declares it (0: unknown, which never satisfies mode auto's
	// relay.min_upstream_kbps).
	UpstreamKbps int `toml:"upstream_kbps"`
}

// DefaultRelayConfig is relay.DefaultConfig with no declared upstream.
func DefaultRelayConfig() RelayConfig { return RelayConfig{Config: relay.DefaultConfig()} }

// Validate names the wrong [relay] setting.
func (c RelayConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.UpstreamKbps < 0 {
		return fmt.Errorf("relay.upstream_kbps %d is negative: use 0 (unknown) or the upstream in kbit/s", c.UpstreamKbps)
	}
	return nil
}

// RelaySection is c's [relay], or the defaults without one.
func (c Config) RelaySection() RelayConfig {
	if c.Relay == nil {
		return DefaultRelayConfig()
	}
	return *c.Relay
}
