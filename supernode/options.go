package supernode

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/reach"
	"github.com/peercall/peercall/relay"
)

// Default timings of the relay manager (Options overrides them).
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

// Options tune the relay manager beyond config.toml. The zero value
// is the documented behaviour.
type Options struct {
	// Mode overrides relay.mode (`run --relay`); "" keeps the config's.
	Mode relay.Mode
	// PolicyPath is the administrator's policy ("" = relay.DefaultPolicyPath).
	PolicyPath string
	// Policy, when set, is the policy already read (the node reads
	// policy.toml once); PolicyPath is then not read again.
	Policy *relay.AdminPolicy
	// Config, when set, replaces config.toml's [relay] section (tests).
	Config *home.RelayConfig
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
	// SameHostPeers lets the TURN relay send to this machine's own
	// addresses (relay.Options.TestSameHostPeers): tests on one machine,
	// where every peer is on the super-node's host. Never in production:
	// clients could reach every UDP service of the host.
	SameHostPeers bool
	// Detector, when set, replaces the restricted-network detector that
	// probes the peers' addresses (tests: a fake firewall).
	Detector *reach.Detector
}

func (o Options) withDefaults() Options {
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

// policy is the admin policy: Policy, or the file at PolicyPath.
func (o Options) policy() (relay.AdminPolicy, error) {
	if o.Policy != nil {
		return *o.Policy, nil
	}
	return relay.LoadPolicy(o.PolicyPath)
}
