package scenarios

import (
	"context"
	"strings"
	"time"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/internal/netlab"
)

// Waits of the super-node scenarios (the machine has 2 cores and runs
// several labs at once).
const (
	// promoteWait bounds a `run --relay on` node's promotion: dial-back
	// reachability through a connected peer, then TURN and circuit relay.
	promoteWait = 45 * time.Second
	// reserveWait bounds a NATed node's circuit relay reservation.
	reserveWait = 45 * time.Second
)

// labRanges is network.reachable_ranges for every node of a relay
// scenario: the internet segment counts as public (libp2p calls
// 198.18.0.0/15 "not public"); the LANs behind the routers do not.
func (w *world) labRanges() settings {
	return settings{"network": {"reachable_ranges": []string{w.inet.Prefix().String()}}}
}

// superNode registers name on a new internet host and runs its node with
// `--relay on` and the lab's reachable ranges, plus relay settings
// (config.toml's [relay]; nil: the defaults). Call waitSuperNode once
// other nodes are connected (reachability is proven by their dial-back).
func (w *world) superNode(name string, relay map[string]any) *user {
	w.t.Helper()
	set := w.labRanges()
	// The lab shares 2 cores with other tests: the load average must not
	// hold promotion back (relay.max_cpu_load is a fraction of all cores).
	set["relay"] = map[string]any{"max_cpu_load": 1.0}
	for k, v := range relay {
		set["relay"][k] = v
	}
	u := w.user(name, w.lab.Host(name, w.inet), set)
	u.run("bob", "--relay", "on")
	return u
}

// waitSuperNode waits until the user's node says it is a super-node, and
// fails the test, with the node's reason, when it does not within
// promoteWait (or says it will take longer).
func (u *user) waitSuperNode() control.Status {
	t := u.w.t
	t.Helper()
	deadline := time.Now().Add(promoteWait)
	for {
		st := u.status()
		if st.Role == "super-node" {
			return st
		}
		if strings.Contains(st.RoleReason, "does not relay for others yet") {
			t.Fatalf("%s's node, run with --relay on, does not act as a super-node: its status says role %q (%s); the node must start its super-node manager and report the role from it", u.name, st.Role, st.RoleReason)
		}
		if hold, ok := holdLeft(st.RoleReason); ok && hold > time.Until(deadline) {
			t.Fatalf("%s's node, run with --relay on, will not be a super-node within %v: its status says %q; `run --relay on` must promote a reachable node at once, without relay.DefaultPromoteHold", u.name, promoteWait, st.RoleReason)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become a super-node within %v: role %q (%s), reachability %q", u.name, promoteWait, st.Role, st.RoleReason, st.Reachability)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitCircuit waits until the user's node (behind a NAT) lists a circuit
// relay address, i.e. holds a reservation at a super-node through which
// others reach it; without one within reserveWait the test fails.
func (u *user) waitCircuit() control.Status {
	t := u.w.t
	t.Helper()
	deadline := time.Now().Add(reserveWait)
	for {
		st := u.status()
		for _, a := range st.Addrs {
			if strings.Contains(a, "/p2p-circuit") {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s behind %s got no circuit relay reservation within %v: its status lists only the addresses %v (a NATed node reserves a slot at a super-node it finds and lists its /p2p-circuit address in status and presence)\n%s's node:\n%s", u.name, u.host, reserveWait, st.Addrs, u.name, tail(u.node.Output(), 40))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// relaySessions is the number of TURN sessions the super-node relays now.
func (u *user) relaySessions() int { return u.status().Relay.Sessions }

// asyncCall is a `peercall call` running in the background.
type asyncCall struct {
	done chan struct{}
	res  cliResult
	err  error
}

// callAsync starts `peercall call callee --duration d --audio-in wav:SAYS
// --audio-out wav:HEARD args...` and returns at once; wait for it with
// wait.
func (u *user) callAsync(ctx context.Context, callee *user, d time.Duration, says, heard string, args ...string) *asyncCall {
	a := &asyncCall{done: make(chan struct{})}
	full := append([]string{"call", callee.name, "--duration", d.String(), "--audio-in", "wav:" + says, "--audio-out", "wav:" + heard}, args...)
	go func() {
		defer close(a.done)
		a.res, a.err = u.cli(ctx, "", full...)
	}()
	return a
}

// wait returns the finished call's result.
func (a *asyncCall) wait() (cliResult, error) {
	<-a.done
	return a.res, a.err
}

// waitActive waits until the user's running node has an active call.
func (u *user) waitActive(d time.Duration) call.Info {
	t := u.w.t
	t.Helper()
	var c call.Info
	u.waitStatus(d, "an active call", func(st control.Status) bool {
		for _, ci := range st.Calls {
			if ci.State == "active" {
				c = ci
				return true
			}
		}
		return false
	})
	return c
}

// natClient registers name on a host behind a new router of kind nat and
// starts its node (auto-answer, saying `says`).
func (w *world) natClient(name string, nat netlab.NAT, says string, opts ...netlab.RouterOption) *user {
	w.t.Helper()
	r := w.endRouter(name+"-net", nat, opts...)
	u := w.user(name, w.lab.Host(name, r.LAN()), w.labRanges())
	u.router = r
	u.run(says)
	return u
}

// holdLeft reads the promoter's remaining hold from a role reason such as
// "...; becoming super-node in 4m48s if it holds (...)".
func holdLeft(reason string) (time.Duration, bool) {
	_, rest, ok := strings.Cut(reason, "becoming super-node in ")
	if !ok {
		return 0, false
	}
	d, _, ok := strings.Cut(rest, " ")
	if !ok {
		return 0, false
	}
	hold, err := time.ParseDuration(d)
	return hold, err == nil
}
