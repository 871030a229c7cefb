package relay

import (
	"errors"
	"fmt"
	"time"

	"github.com/peercall/peercall/policyfile"
	"github.com/peercall/peercall/relay/peerfilter"
)

// DefaultPolicyPath is where an administrator puts the system-wide policy.
const DefaultPolicyPath = policyfile.DefaultPath

// AdminPolicy is the administrator's system-wide file. Its settings cap or
// override the user's Config; a zero field means "no policy on this
// setting". Example:
//
//	[relay]
//	mode = "off"            # ceiling: off < auto < on ("auto" forbids a user's "on")
//	max_kbps = 2000         # caps (the smaller of user's and admin's wins)
//	max_sessions = 10
//	max_sessions_per_user = 2
//	max_session_duration = "1h"
//	credential_ttl = "5m"
//	idle_timeout = "30s"
//	allocation_lifetime = "1m"
//	min_uptime = "2h"       # floors (the larger wins)
//	min_upstream_kbps = 5000
//	max_cpu_load = 0.5      # cap
//	turn_port = 3478        # overrides (the firewall decides the ports)
//	turn_tls_port = 443
//	relay_port_min = 40000
//	relay_port_max = 40999
//	allowed_peer_ranges = ["10.20.0.0/16"] # replaces the user's list; [] closes every range
//
//	[network]
//	restricted = true       # never relay for others
type AdminPolicy struct {
	// Path is the file the policy came from ("" when there was none).
	Path    string        `toml:"-"`
	Relay   PolicyRelay   `toml:"relay"`
	Network PolicyNetwork `toml:"network"`
}

// PolicyRelay is the [relay] section of the admin policy.
type PolicyRelay struct {
	Mode               Mode          `toml:"mode"`
	MaxKbps            int           `toml:"max_kbps"`
	MaxSessions        int           `toml:"max_sessions"`
	MaxSessionsPerUser int           `toml:"max_sessions_per_user"`
	MaxSessionDuration time.Duration `toml:"max_session_duration"`
	CredentialTTL      time.Duration `toml:"credential_ttl"`
	MinUptime          time.Duration `toml:"min_uptime"`
	MinUpstreamKbps    int           `toml:"min_upstream_kbps"`
	MaxCPULoad         float64       `toml:"max_cpu_load"`
	TURNPort           int           `toml:"turn_port"`
	TURNTLSPort        int           `toml:"turn_tls_port"`
	RelayPortMin       int           `toml:"relay_port_min"`
	RelayPortMax       int           `toml:"relay_port_max"`
	IdleTimeout        time.Duration `toml:"idle_timeout"`
	AllocationLifetime time.Duration `toml:"allocation_lifetime"`
	// AllowedPeerRanges, when AllowedPeerRangesSet, replaces the user's
	// relay.allowed_peer_ranges: the administrator decides which
	// non-public networks this machine relays into.
	AllowedPeerRanges    peerfilter.Ranges `toml:"allowed_peer_ranges"`
	AllowedPeerRangesSet bool              `toml:"-"` // the file has allowed_peer_ranges (even [])
}

// PolicyNetwork is the [network] section of the admin policy.
type PolicyNetwork struct {
	// Restricted: this machine never relays for others (and the node
	// places its own calls through relays only).
	Restricted bool `toml:"restricted"`
}

// LoadPolicy reads the admin policy at path ("" means DefaultPolicyPath)
// and decodes its [relay] and [network] (PolicyFrom). A missing file is no
// policy (a zero AdminPolicy, nil error); a file that cannot be read or is
// not a valid policy is an error naming the file and the setting, because
// silently ignoring an administrator is worse than not starting.
func LoadPolicy(path string) (AdminPolicy, error) {
	f, err := policyfile.Load(path)
	if err != nil {
		return AdminPolicy{}, err
	}
	p, err := PolicyFrom(f)
	if err != nil {
		return AdminPolicy{}, fmt.Errorf("admin policy %s: %w", f.Path, err)
	}
	return p, nil
}

// ParsePolicy decodes and validates a policy file's contents.
func ParsePolicy(data []byte) (AdminPolicy, error) {
	f, err := policyfile.Parse(data)
	if err != nil {
		return AdminPolicy{}, err
	}
	return PolicyFrom(f)
}

// PolicyFrom decodes and validates the [relay] and [network] sections of
// a policy read once (package policyfile). Unknown settings are refused
// by name (a typo must not silently lift a cap).
func PolicyFrom(f *policyfile.File) (AdminPolicy, error) {
	var p AdminPolicy
	if err := f.Decode("relay", &p.Relay); err != nil {
		return AdminPolicy{}, err
	}
	if err := f.Decode("network", &p.Network); err != nil {
		return AdminPolicy{}, err
	}
	p.Relay.AllowedPeerRangesSet = f.IsDefined("relay", "allowed_peer_ranges")
	if err := p.validate(); err != nil {
		return AdminPolicy{}, err
	}
	p.Path = f.Path
	return p, nil
}

// validate checks every setting the file gives against the bounds of
// Config.Validate (a zero number or duration is "no policy").
func (p AdminPolicy) validate() error {
	r := p.Relay
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	intIn := func(key string, v, lo, hi int) {
		if v != 0 && (v < lo || v > hi) {
			bad("relay.%s %d is out of range: use %d..%d, or leave it out for no policy", key, v, lo, hi)
		}
	}
	durIn := func(key string, v, lo, hi time.Duration) {
		if v != 0 && (v < lo || v > hi) {
			bad("relay.%s %v is out of range: use %v..%v, or leave it out for no policy", key, v, lo, hi)
		}
	}
	intIn("max_kbps", r.MaxKbps, 8, maxKbpsBound)
	intIn("max_sessions", r.MaxSessions, 1, maxSessionsBound)
	intIn("max_sessions_per_user", r.MaxSessionsPerUser, 1, maxSessionsBound)
	intIn("min_upstream_kbps", r.MinUpstreamKbps, 1, maxKbpsBound)
	durIn("max_session_duration", r.MaxSessionDuration, minDurationSetting, maxDurationBound)
	durIn("credential_ttl", r.CredentialTTL, minDurationSetting, maxCredentialTTL)
	durIn("min_uptime", r.MinUptime, minDurationSetting, maxUptimeBound)
	durIn("idle_timeout", r.IdleTimeout, minDurationSetting, maxIdleTimeout)
	durIn("allocation_lifetime", r.AllocationLifetime, minDurationSetting, maxAllocationLife)
	if r.MaxCPULoad < 0 || r.MaxCPULoad > 1 {
		bad("relay.max_cpu_load %v is out of range: use a fraction in (0, 1]", r.MaxCPULoad)
	}
	intIn("turn_port", r.TURNPort, 1, 65535)
	intIn("turn_tls_port", r.TURNTLSPort, 1, 65535)
	if (r.RelayPortMin == 0) != (r.RelayPortMax == 0) || r.RelayPortMin < 0 || r.RelayPortMax > 65535 || r.RelayPortMin > r.RelayPortMax {
		bad("relay.relay_port_min..relay_port_max %d..%d is not a port range: set both, 1 <= min <= max <= 65535", r.RelayPortMin, r.RelayPortMax)
	}
	if _, err := peerfilter.Parse("relay.allowed_peer_ranges", r.AllowedPeerRanges); err != nil {
		bad("%w", err)
	}
	return errors.Join(errs...)
}

// modeRank orders modes from most to least restrictive.
func modeRank(m Mode) int {
	switch m {
	case ModeOff:
		return 0
	case ModeAuto:
		return 1
	default:
		return 2
	}
}

// Effective applies the admin policy p to the user's config and returns
// the config the node runs with, plus one human-readable line per setting
// the policy changed (log them at start and show them in status).
// network.restricted and relay.mode = "off" both force the mode off.
func Effective(user Config, p AdminPolicy) (Config, []string) {
	c := user
	var reasons []string
	src := "admin policy"
	if p.Path != "" {
		src = "admin policy " + p.Path
	}
	note := func(format string, a ...any) { reasons = append(reasons, src+": "+fmt.Sprintf(format, a...)) }
	r := p.Relay

	if p.Network.Restricted && c.Mode != ModeOff {
		note("network.restricted = true: relay.mode %s -> off (a restricted machine never relays for others)", c.Mode)
		c.Mode = ModeOff
	}
	if r.Mode != "" && modeRank(r.Mode) < modeRank(c.Mode) {
		note("relay.mode %s -> %s", c.Mode, r.Mode)
		c.Mode = r.Mode
	}
	capInt := func(name string, v *int, limit int) {
		if limit > 0 && *v > limit {
			note("relay.%s capped %d -> %d", name, *v, limit)
			*v = limit
		}
	}
	capInt("max_kbps", &c.MaxKbps, r.MaxKbps)
	capInt("max_sessions", &c.MaxSessions, r.MaxSessions)
	capInt("max_sessions_per_user", &c.MaxSessionsPerUser, r.MaxSessionsPerUser)
	capDur := func(name string, v *time.Duration, limit time.Duration) {
		if limit > 0 && *v > limit {
			note("relay.%s capped %v -> %v", name, *v, limit)
			*v = limit
		}
	}
	capDur("max_session_duration", &c.MaxSessionDuration, r.MaxSessionDuration)
	capDur("credential_ttl", &c.CredentialTTL, r.CredentialTTL)
	capDur("idle_timeout", &c.IdleTimeout, r.IdleTimeout)
	capDur("allocation_lifetime", &c.AllocationLifetime, r.AllocationLifetime)
	if r.MaxCPULoad > 0 && c.MaxCPULoad > r.MaxCPULoad {
		note("relay.max_cpu_load capped %v -> %v", c.MaxCPULoad, r.MaxCPULoad)
		c.MaxCPULoad = r.MaxCPULoad
	}
	if r.MinUptime > c.MinUptime {
		note("relay.min_uptime raised %v -> %v", c.MinUptime, r.MinUptime)
		c.MinUptime = r.MinUptime
	}
	if r.MinUpstreamKbps > c.MinUpstreamKbps {
		note("relay.min_upstream_kbps raised %d -> %d", c.MinUpstreamKbps, r.MinUpstreamKbps)
		c.MinUpstreamKbps = r.MinUpstreamKbps
	}
	override := func(name string, v *int, want int) {
		if want > 0 && *v != want {
			note("relay.%s set %d -> %d", name, *v, want)
			*v = want
		}
	}
	override("turn_port", &c.TURNPort, r.TURNPort)
	override("turn_tls_port", &c.TURNTLSPort, r.TURNTLSPort)
	override("relay_port_min", &c.RelayPortMin, r.RelayPortMin)
	override("relay_port_max", &c.RelayPortMax, r.RelayPortMax)
	if c.RelayPortMin != 0 {
		capInt("max_sessions", &c.MaxSessions, c.RelayPortMax-c.RelayPortMin+1) // a session needs a relay port
	}
	if r.AllowedPeerRangesSet && c.AllowedPeerRanges != r.AllowedPeerRanges {
		note("relay.allowed_peer_ranges set %v -> %v", c.AllowedPeerRanges, r.AllowedPeerRanges)
		c.AllowedPeerRanges = r.AllowedPeerRanges
	}
	return c, reasons
}
