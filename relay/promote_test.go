package relay

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func goodInputs() Inputs {
	return Inputs{Mode: ModeAuto, PolicyAllows: true, Reachable: true, Uptime: time.Hour, UpstreamKbps: 10000, CPULoad: 0.1}
}

func TestDecide(t *testing.T) {
	cfg := DefaultConfig()
	tests := []struct {
		name   string
		change func(*Inputs)
		role   Role
		reason string
	}{
		{"all good", func(*Inputs) {}, RoleSuperNode, "publicly reachable"},
		{"mode off", func(in *Inputs) { in.Mode = ModeOff }, RoleClient, "relay.mode is off"},
		{"policy forbids", func(in *Inputs) { in.PolicyAllows = false }, RoleClient, "admin policy"},
		{"restricted", func(in *Inputs) { in.Restricted = true }, RoleClient, "restricted"},
		{"restricted beats on", func(in *Inputs) { in.Restricted, in.Mode = true, ModeOn }, RoleClient, "restricted"},
		{"unreachable", func(in *Inputs) { in.Reachable = false }, RoleClient, "not publicly reachable"},
		{"unreachable even when on", func(in *Inputs) { in.Reachable, in.Mode = false, ModeOn }, RoleClient, "not publicly reachable"},
		{"young", func(in *Inputs) { in.Uptime = time.Minute }, RoleClient, "relay.min_uptime"},
		{"slow", func(in *Inputs) { in.UpstreamKbps = 500 }, RoleClient, "relay.min_upstream_kbps"},
		{"busy", func(in *Inputs) { in.CPULoad = 0.95 }, RoleClient, "relay.max_cpu_load"},
		{"on skips uptime and bandwidth", func(in *Inputs) { in.Mode, in.Uptime, in.UpstreamKbps = ModeOn, 0, 0 }, RoleSuperNode, "relay.mode is on"},
		{"on still checks CPU", func(in *Inputs) { in.Mode, in.CPULoad = ModeOn, 0.9 }, RoleClient, "relay.max_cpu_load"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := goodInputs()
			tt.change(&in)
			d := Decide(cfg, in)
			if d.Role != tt.role || !strings.Contains(d.Reason, tt.reason) {
				t.Fatalf("Decide = %+v, want %s because %q", d, tt.role, tt.reason)
			}
		})
	}
}

// fakeClock is a settable clock: the promoter's hold times are about
// observations over minutes, which a test does not wait for.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestPromoterHysteresis(t *testing.T) {
	good := goodInputs()
	young := good
	young.Uptime = time.Second
	busy := good
	busy.CPULoad = 0.99
	off := good
	off.Mode = ModeOff
	restricted := good
	restricted.Restricted = true

	type step struct {
		after time.Duration // clock advance before this observation
		in    Inputs
		want  Role
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"promotes only after the hold", []step{
			{0, good, RoleClient}, {2 * time.Minute, good, RoleClient}, {2 * time.Minute, good, RoleClient}, {time.Minute, good, RoleSuperNode},
		}},
		{"a blip restarts the promotion hold", []step{
			{0, good, RoleClient}, {4 * time.Minute, good, RoleClient}, {30 * time.Second, young, RoleClient},
			{30 * time.Second, good, RoleClient}, {4 * time.Minute, good, RoleClient}, {time.Minute, good, RoleSuperNode},
		}},
		{"short failure does not demote", []step{
			{0, good, RoleClient}, {5 * time.Minute, good, RoleSuperNode},
			{10 * time.Second, busy, RoleSuperNode}, {time.Minute, busy, RoleSuperNode}, {10 * time.Second, good, RoleSuperNode},
			{10 * time.Second, busy, RoleSuperNode}, {time.Minute, busy, RoleSuperNode},
		}},
		{"lasting failure demotes after the hold", []step{
			{0, good, RoleClient}, {5 * time.Minute, good, RoleSuperNode},
			{time.Second, busy, RoleSuperNode}, {time.Minute, busy, RoleSuperNode}, {time.Minute, busy, RoleClient},
		}},
		{"mode off demotes at once", []step{
			{0, good, RoleClient}, {5 * time.Minute, good, RoleSuperNode}, {time.Second, off, RoleClient},
		}},
		{"restricted demotes at once and never promotes", []step{
			{0, good, RoleClient}, {5 * time.Minute, good, RoleSuperNode}, {time.Second, restricted, RoleClient},
			{time.Hour, restricted, RoleClient}, {time.Hour, restricted, RoleClient},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			p := NewPromoter(DefaultConfig(), PromoterOptions{PromoteHold: 5 * time.Minute, DemoteHold: 2 * time.Minute, Now: clk.now})
			for i, s := range tt.steps {
				clk.t = clk.t.Add(s.after)
				d := p.Update(s.in)
				if d.Role != s.want {
					t.Fatalf("step %d: role %s (%s), want %s", i, d.Role, d.Reason, s.want)
				}
				if d.Reason == "" {
					t.Fatalf("step %d: empty reason", i)
				}
				if cur := p.Current(); cur.Role != d.Role {
					t.Fatalf("step %d: Current() = %s, Update returned %s", i, cur.Role, d.Role)
				}
			}
		})
	}
}

// TestPromoterLogsChanges: each role change is one log line with its
// reason; observations that change nothing log nothing.
func TestPromoterLogsChanges(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	clk := &fakeClock{t: time.Unix(0, 0)}
	p := NewPromoter(DefaultConfig(), PromoterOptions{PromoteHold: time.Minute, DemoteHold: time.Minute, Now: clk.now, Logger: log})
	good := goodInputs()
	off := good
	off.Mode = ModeOff
	for _, step := range []struct {
		after time.Duration
		in    Inputs
	}{{0, good}, {30 * time.Second, good}, {31 * time.Second, good}, {time.Second, good}, {time.Second, off}, {time.Second, off}} {
		clk.t = clk.t.Add(step.after)
		p.Update(step.in)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log has %d lines, want 2 (promotion, demotion):\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], "to=super-node") || !strings.Contains(lines[0], "publicly reachable") {
		t.Errorf("promotion line %q", lines[0])
	}
	if !strings.Contains(lines[1], "to=client") || !strings.Contains(lines[1], "relay.mode is off") {
		t.Errorf("demotion line %q", lines[1])
	}
}
