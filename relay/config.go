package relay

import (
	"errors"
	"fmt"
	"time"

	"github.com/peercall/peercall/relay/peerfilter"
)

// Mode is the user's choice about relaying: auto (relay when well
// connected), on (relay whenever reachable, skipping the uptime and bandwidth
// checks) or off (never relay).
type Mode string

// The relay modes.
const (
	ModeAuto Mode = "auto"
	ModeOn   Mode = "on"
	ModeOff  Mode = "off"
)

// ParseMode checks s is a mode.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAuto, ModeOn, ModeOff:
		return m, nil
	}
	return "", fmt.Errorf("relay mode %q is not one of auto, on, off", s)
}

// UnmarshalText makes TOML and flag decoding refuse unknown modes.
func (m *Mode) UnmarshalText(b []byte) error {
	p, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = p
	return nil
}

// Default settings (see DefaultConfig and docs/ports.md).
const (
	DefaultTURNPort      = 3478
	DefaultRelayPortMin  = 50000
	DefaultRelayPortMax  = 50999
	DefaultCredentialTTL = 10 * time.Minute
	// DefaultIdleTimeout and DefaultAllocationLifetime free abandoned
	// allocations (relay/doc.go "Abandoned allocations").
	DefaultIdleTimeout        = 60 * time.Second
	DefaultAllocationLifetime = 2 * time.Minute
)

// Config is the relay's part of a node's config.toml ([relay]): the mode,
// the promotion thresholds, the limits a super-node enforces and its ports.
// Zero limits are not "unlimited": Validate refuses them, so every limit is
// a number someone chose.
type Config struct {
	// Mode is auto, on or off.
	Mode Mode `toml:"mode"`
	// MinUptime is how long the node must have run before it promotes
	// itself (mode auto).
	MinUptime time.Duration `toml:"min_uptime"`
	// MinUpstreamKbps is the declared or measured upstream bandwidth, in
	// kbit/s, a node needs to promote itself (mode auto).
	MinUpstreamKbps int `toml:"min_upstream_kbps"`
	// MaxCPULoad is the CPU load (0..1, busy fraction of all cores) above
	// which a node does not promote itself, and demotes itself.
	MaxCPULoad float64 `toml:"max_cpu_load"`
	// MaxKbps caps the total relayed bandwidth, both directions together,
	// in kbit/s (a token bucket: packets over it are dropped).
	MaxKbps int `toml:"max_kbps"`
	// MaxSessions caps concurrent TURN allocations; new ones beyond it are
	// refused at once, existing ones are never degraded.
	MaxSessions int `toml:"max_sessions"`
	// MaxSessionDuration closes an allocation this long after it was made.
	MaxSessionDuration time.Duration `toml:"max_session_duration"`
	// MaxSessionsPerUser caps concurrent allocations of one username.
	MaxSessionsPerUser int `toml:"max_sessions_per_user"`
	// TURNPort is the TURN UDP and TCP port (3478; 0 in tests picks a
	// free port).
	TURNPort int `toml:"turn_port"`
	// TURNTLSPort is the TURN-over-TLS port (0: no TLS listener; 5349 or
	// 443 for clients behind firewalls that pass only TLS).
	TURNTLSPort int `toml:"turn_tls_port"`
	// SharedPort is one TCP port (0: none; 443 for clients behind
	// firewalls that let out nothing else) on which the node serves TURN
	// over TCP, TURN over TLS and libp2p at once (package sharedport).
	SharedPort int `toml:"shared_port"`
	// RelayPortMin and RelayPortMax bound the UDP ports of relayed
	// transport addresses (both 0: ephemeral ports, for tests).
	RelayPortMin int `toml:"relay_port_min"`
	RelayPortMax int `toml:"relay_port_max"`
	// CredentialTTL is how long issued TURN credentials stay valid for new
	// allocations (an allocation made with them lives on, up to
	// MaxSessionDuration).
	CredentialTTL time.Duration `toml:"credential_ttl"`
	// IdleTimeout closes an allocation that relayed no packet, in either
	// direction, for this long (an abandoned allocation frees its slot).
	IdleTimeout time.Duration `toml:"idle_timeout"`
	// AllocationLifetime is the TURN allocation lifetime the server grants
	// (the client must refresh within it), and the longest an allocation
	// may go without a successful Refresh whatever LIFETIME it asked for.
	AllocationLifetime time.Duration `toml:"allocation_lifetime"`
	// AllowedPeerRanges are CIDR ranges the relay sends to although they
	// are not public unicast (the node passes network.reachable_ranges;
	// the lab uses "198.18.0.0/15"). They never open unspecified,
	// multicast or broadcast addresses, nor the super-node's own.
	AllowedPeerRanges peerfilter.Ranges `toml:"allowed_peer_ranges,omitempty"`
}

// Bounds of the numeric settings (Validate; the admin policy's caps obey
// them too).
const (
	maxUptimeBound     = 7 * 24 * time.Hour
	maxKbpsBound       = 10_000_000 // 10 Gbit/s
	maxSessionsBound   = 10_000
	maxDurationBound   = 24 * time.Hour
	maxCredentialTTL   = 24 * time.Hour
	maxIdleTimeout     = time.Hour
	maxAllocationLife  = time.Hour // pion/turn's own ceiling on LIFETIME
	minDurationSetting = time.Second
)

// DefaultConfig returns the settings a node uses when config.toml leaves
// them out: mode auto, promotion after 30 minutes of uptime with 2 Mbit/s
// upstream and CPU under 70 %, relaying at most 4 Mbit/s in 50 sessions of
// at most 4 hours, 4 per user, each closed after 60 s without traffic or
// 2 minutes without a refresh, to public unicast peers only, on the
// documented ports (relay/doc.go says why these numbers).
func DefaultConfig() Config {
	return Config{
		Mode:               ModeAuto,
		MinUptime:          30 * time.Minute,
		MinUpstreamKbps:    2000,
		MaxCPULoad:         0.7,
		MaxKbps:            4000,
		MaxSessions:        50,
		MaxSessionDuration: 4 * time.Hour,
		MaxSessionsPerUser: 4,
		TURNPort:           DefaultTURNPort,
		TURNTLSPort:        0,
		RelayPortMin:       DefaultRelayPortMin,
		RelayPortMax:       DefaultRelayPortMax,
		CredentialTTL:      DefaultCredentialTTL,
		IdleTimeout:        DefaultIdleTimeout,
		AllocationLifetime: DefaultAllocationLifetime,
	}
}

// Validate reports every setting that cannot work, each naming its TOML key
// (relay.*) and the accepted range.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	intIn := func(key string, v, lo, hi int, hint string) {
		if v < lo || v > hi {
			bad("relay.%s %d is out of range: use %d..%d%s", key, v, lo, hi, hint)
		}
	}
	durIn := func(key string, v, lo, hi time.Duration, hint string) {
		if v < lo || v > hi {
			bad("relay.%s %v is out of range: use %v..%v%s", key, v, lo, hi, hint)
		}
	}
	if _, err := ParseMode(string(c.Mode)); err != nil {
		bad("relay.mode: %v", err)
	}
	durIn("min_uptime", c.MinUptime, 0, maxUptimeBound, " (for example \"30m\")")
	intIn("min_upstream_kbps", c.MinUpstreamKbps, 0, maxKbpsBound, " (kbit/s)")
	if !(c.MaxCPULoad > 0 && c.MaxCPULoad <= 1) {
		bad("relay.max_cpu_load %v is out of range: use a fraction in (0, 1], for example 0.7", c.MaxCPULoad)
	}
	intIn("max_kbps", c.MaxKbps, 8, maxKbpsBound, " (kbit/s); set relay.mode = \"off\" to stop relaying")
	intIn("max_sessions", c.MaxSessions, 1, maxSessionsBound, "; set relay.mode = \"off\" to stop relaying")
	durIn("max_session_duration", c.MaxSessionDuration, minDurationSetting, maxDurationBound, " (for example \"4h\")")
	intIn("max_sessions_per_user", c.MaxSessionsPerUser, 1, maxSessionsBound, "")
	intIn("turn_port", c.TURNPort, 0, 65535, " (3478 is the standard; 0 picks a free port)")
	intIn("turn_tls_port", c.TURNTLSPort, 0, 65535, " (0: no TLS listener; 5349 or 443)")
	if c.TURNTLSPort != 0 && c.TURNTLSPort == c.TURNPort {
		bad("relay.turn_tls_port %d equals relay.turn_port: TCP and TLS need different ports", c.TURNTLSPort)
	}
	intIn("shared_port", c.SharedPort, 0, 65535, " (0: none; 443 serves TURN over TCP and TLS and libp2p on one port)")
	if c.SharedPort != 0 && (c.SharedPort == c.TURNPort || c.SharedPort == c.TURNTLSPort) {
		bad("relay.shared_port %d is also relay.turn_port or relay.turn_tls_port: give the shared port its own number (TURN over TCP and TLS are served on it anyway)", c.SharedPort)
	}
	switch {
	case c.RelayPortMin == 0 && c.RelayPortMax == 0:
	case c.RelayPortMin < 1 || c.RelayPortMax > 65535 || c.RelayPortMin > c.RelayPortMax:
		bad("relay.relay_port_min..relay_port_max %d..%d is not a port range: use 1 <= min <= max <= 65535 (default 50000..50999), or both 0", c.RelayPortMin, c.RelayPortMax)
	case c.MaxSessions > c.RelayPortMax-c.RelayPortMin+1:
		bad("relay.max_sessions %d is more than the %d ports of relay.relay_port_min..relay_port_max %d..%d: every session needs a port; widen the range or lower relay.max_sessions",
			c.MaxSessions, c.RelayPortMax-c.RelayPortMin+1, c.RelayPortMin, c.RelayPortMax)
	}
	durIn("credential_ttl", c.CredentialTTL, minDurationSetting, maxCredentialTTL, " (default 10m)")
	durIn("idle_timeout", c.IdleTimeout, minDurationSetting, maxIdleTimeout, " (default 60s; keep it above the ring time)")
	durIn("allocation_lifetime", c.AllocationLifetime, minDurationSetting, maxAllocationLife, " (default 2m)")
	if _, err := peerfilter.Parse("relay.allowed_peer_ranges", c.AllowedPeerRanges); err != nil {
		bad("%w", err)
	}
	return errors.Join(errs...)
}
