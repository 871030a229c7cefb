package relay

import (
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Role is what a node currently is for others.
type Role string

// The roles, spelt as in `peercall status --json`.
const (
	RoleClient    Role = "client"
	RoleSuperNode Role = "super-node"
)

// Inputs are the observations promotion is decided on. The node gathers
// them (AutoNAT plus a dial-back for Reachable, its start time, a declared
// or measured upstream, /proc load) and feeds them to a Promoter.
type Inputs struct {
	// Mode is the effective relay mode (after the admin policy).
	Mode Mode
	// PolicyAllows is false when an admin policy forbids relaying.
	PolicyAllows bool
	// Reachable: another node dialled back the advertised address on a
	// fresh connection (proved, not guessed from address ranges).
	Reachable bool
	// Restricted: network.restricted is set (never relay for others).
	Restricted bool
	// Uptime is how long the node has run.
	Uptime time.Duration
	// UpstreamKbps is the declared or measured upstream bandwidth.
	UpstreamKbps int
	// CPULoad is the busy fraction of all cores, 0..1.
	CPULoad float64
}

// Decision is a role and the reason for it, in words fit for `status`.
type Decision struct {
	Role   Role
	Reason string
	// forced decisions (mode off, admin policy, restricted) apply at once,
	// without hysteresis.
	forced bool
}

// Decide says what role the inputs call for right now, with thresholds
// from cfg (cfg.Mode is ignored: in.Mode is the effective mode). It is pure;
// Promoter adds the hysteresis.
func Decide(cfg Config, in Inputs) Decision {
	switch {
	case in.Restricted:
		return Decision{RoleClient, "network.restricted is set: this node never relays for others", true}
	case !in.PolicyAllows:
		return Decision{RoleClient, "the admin policy forbids relaying", true}
	case in.Mode == ModeOff:
		return Decision{RoleClient, "relay.mode is off", true}
	case in.Mode != ModeAuto && in.Mode != ModeOn:
		return Decision{RoleClient, fmt.Sprintf("relay.mode %q is not auto or on", in.Mode), true}
	case !in.Reachable:
		return Decision{Role: RoleClient, Reason: "not publicly reachable: no dial-back succeeded"}
	case in.CPULoad >= cfg.MaxCPULoad:
		return Decision{Role: RoleClient, Reason: fmt.Sprintf("CPU load %.0f%% is at or above relay.max_cpu_load %.0f%%", in.CPULoad*100, cfg.MaxCPULoad*100)}
	}
	if in.Mode == ModeOn {
		return Decision{Role: RoleSuperNode, Reason: "relay.mode is on and the node is publicly reachable"}
	}
	switch {
	case in.Uptime < cfg.MinUptime:
		return Decision{Role: RoleClient, Reason: fmt.Sprintf("uptime %v is below relay.min_uptime %v", in.Uptime.Truncate(time.Second), cfg.MinUptime)}
	case in.UpstreamKbps < cfg.MinUpstreamKbps:
		return Decision{Role: RoleClient, Reason: fmt.Sprintf("upstream %d kbit/s is below relay.min_upstream_kbps %d", in.UpstreamKbps, cfg.MinUpstreamKbps)}
	}
	return Decision{Role: RoleSuperNode, Reason: fmt.Sprintf("publicly reachable, up %v, upstream %d kbit/s, CPU %.0f%%", in.Uptime.Truncate(time.Second), in.UpstreamKbps, in.CPULoad*100)}
}

// Default hold times of a Promoter.
const (
	DefaultPromoteHold = 5 * time.Minute
	DefaultDemoteHold  = 2 * time.Minute
)

// PromoterOptions tune a Promoter; zero fields take defaults.
type PromoterOptions struct {
	// PromoteHold is how long the conditions must hold, observation after
	// observation, before the node promotes itself.
	PromoteHold time.Duration
	// DemoteHold is how long a condition must have failed before the node
	// demotes itself. Forced demotions (mode off, policy, restricted) are
	// immediate.
	DemoteHold time.Duration
	// Now is the clock (nil: time.Now); tests inject one.
	Now func() time.Time
	// Logger receives one line per role change (nil: slog.Default()).
	Logger *slog.Logger
}

// Promoter turns a stream of observations into a role that does not flap:
// a change happens only after Decide has asked for it continuously for the
// hold time. It is safe for concurrent use.
type Promoter struct {
	cfg   Config
	opts  PromoterOptions
	mu    sync.Mutex
	cur   Decision
	since time.Time // when Decide first disagreed with cur (zero: it agrees)
}

// NewPromoter starts as a client.
func NewPromoter(cfg Config, opts PromoterOptions) *Promoter {
	if opts.PromoteHold == 0 {
		opts.PromoteHold = DefaultPromoteHold
	}
	if opts.DemoteHold == 0 {
		opts.DemoteHold = DefaultDemoteHold
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Promoter{cfg: cfg, opts: opts, cur: Decision{Role: RoleClient, Reason: "starting: no observation yet"}}
}

// Current is the role now and why.
func (p *Promoter) Current() Decision {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// Update feeds one observation and returns the (possibly changed) role.
// Call it periodically (every few seconds to a minute) with fresh inputs.
func (p *Promoter) Update(in Inputs) Decision {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opts.Now()
	want := Decide(p.cfg, in)
	if want.Role == p.cur.Role {
		p.since = time.Time{}
		p.cur.Reason = want.Reason
		return p.cur
	}
	hold := p.opts.PromoteHold
	if want.Role == RoleClient {
		hold = p.opts.DemoteHold
	}
	if !want.forced {
		if p.since.IsZero() {
			p.since = now
		}
		if waited := now.Sub(p.since); waited < hold {
			out := p.cur
			out.Reason = fmt.Sprintf("%s; becoming %s in %v if it holds (%s)", p.cur.Reason, want.Role, (hold - waited).Truncate(time.Second), want.Reason)
			return out
		}
	}
	p.opts.Logger.Info("relay role changed", "from", p.cur.Role, "to", want.Role, "reason", want.Reason)
	p.cur = want
	p.since = time.Time{}
	return p.cur
}
