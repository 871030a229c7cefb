package node

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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

// Default timings of the relay manager (RelayOptions overrides them).
const (
	DefaultRelayInterval        = 30 * time.Second
	DefaultReachabilityInterval = 10 * time.Minute
	DefaultProvideInterval      = 10 * time.Minute
	DefaultRelayRefresh         = 2 * time.Minute
	DefaultDrainTimeout         = 30 * time.Second
	// unprovenRetry is the longest wait between dial-back attempts while
	// reachability is unproven and the node may relay.
	unprovenRetry = 5 * time.Second
	// relayCredentialTimeout bounds a /peercall/relay/1 exchange, both sides.
	relayCredentialTimeout = 10 * time.Second
)

// RelayOptions tune the relay manager beyond config.toml. The zero value
// is the documented behaviour.
type RelayOptions struct {
	// Mode overrides relay.mode (`run --relay`); "" keeps the config's.
	Mode relay.Mode
	// PolicyPath is the administrator's policy ("" = relay.DefaultPolicyPath).
	PolicyPath string
	// Config, when set, replaces config.toml's [relay] section (tests).
	Config *RelayConfig
	// MetricsAddr serves Prometheus metrics on host:port (`run --metrics`;
	// "" = none).
	MetricsAddr string
	// Registry receives the metrics (nil: a new registry).
	Registry *prometheus.Registry
	// Interval is how often promotion is re-decided (default 30 s).
	Interval time.Duration
	// ReachabilityInterval is how often a proven reachability is checked
	// again (default 10 min; an unproven one is retried every Interval).
	ReachabilityInterval time.Duration
	// PromoteHold and DemoteHold are the promoter's hysteresis (defaults
	// relay.DefaultPromoteHold and relay.DefaultDemoteHold; with relay.mode
	// on, promotion follows the first successful dial-back at once).
	PromoteHold, DemoteHold time.Duration
	// ProvideInterval is how often a super-node re-provides the relay key
	// (default 10 min).
	ProvideInterval time.Duration
	// Refresh is how often the list of super-nodes is looked up again
	// (default 2 min, jittered).
	Refresh time.Duration
	// DrainTimeout bounds the wait for relayed calls at demotion and
	// shutdown (default 30 s).
	DrainTimeout time.Duration
	// CPULoad, when set, replaces the busy fraction of all cores read from
	// /proc/stat (tests).
	CPULoad func() float64
	// restricted, when set, replaces the restricted-network detector's
	// targets and probe (package tests: a fake firewall).
	restricted *restrictedDetector
}

func (o RelayOptions) withDefaults() RelayOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Interval, DefaultRelayInterval)
	def(&o.ReachabilityInterval, DefaultReachabilityInterval)
	def(&o.DemoteHold, relay.DefaultDemoteHold)
	def(&o.ProvideInterval, DefaultProvideInterval)
	def(&o.Refresh, DefaultRelayRefresh)
	def(&o.DrainTimeout, DefaultDrainTimeout)
	if o.CPULoad == nil {
		o.CPULoad = (&cpuSampler{}).load
	}
	return o
}
