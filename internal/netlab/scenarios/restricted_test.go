package scenarios

import (
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/internal/netlab"
)

// restrictedWait bounds a node's noticing that only TCP 443 gets out.
const restrictedWait = 30 * time.Second

// TestFirewall443 is scenario 4: carol sits behind a default-deny firewall
// that lets out only TCP to port 443 (no UDP at all, nothing in). The
// directory listens on 443 so she can log in. The super-node has one
// address and shares its TCP 443 (relay.shared_port) between libp2p (so
// carol can ask it for TURN credentials), TURN over TCP and TURN over TLS
// (carol's node speaks TLS there, checked against the super-node's key);
// TURN over UDP stays on 3478 for everyone else. bob, on the internet, listens for libp2p on TCP 443 too, which
// carries the calls' signalling in and out (so this scenario does not
// depend on circuit relay reservations, which other scenarios test). carol's
// node is restricted, says so in `status`, stays a client with --relay
// auto, and calls in and out go through TURN over TLS on 443.
//
// A file goes from carol to bob the same way, killed half-way and resumed
// (the "file" subtest, fileThrough443).
//
// Restricted mode is set in carol's config.toml (network.restricted =
// true); dave, beside her without it, must detect it (the "detected"
// subtest).
func TestFirewall443(t *testing.T) {
	t.Parallel()
	w := newWorldDirPort(t, 4, 443)
	sh := w.lab.Host("super", w.inet)
	set := w.labRanges()
	set["network"]["listen"] = []string{sh.Addr().String() + ":7070"}
	set["relay"] = map[string]any{"max_cpu_load": 1.0, "shared_port": 443}
	super := w.user("super", sh, set)
	super.run("bob", "--relay", "on")

	set = w.labRanges()
	set["network"]["listen"] = []string{"0.0.0.0:443"}
	set["transfer"] = map[string]any{"auto_accept_from": []string{"carol"}}
	bob := w.user("bob", w.endHost("bob"), set)
	bob.run("bob")

	corp := w.endRouter("corp", netlab.NoNAT, netlab.Firewall(netlab.AllowOutTCP(443)))
	set = w.labRanges()
	set["network"]["restricted"] = true
	carol := w.user("carol", w.lab.Host("carol", corp.LAN()), set)
	carol.run("alice", "--relay", "auto")
	// dave, beside carol without network.restricted, is for detection.
	dave := w.user("dave", w.lab.Host("dave", corp.LAN()), w.labRanges())
	dave.run("bob", "--relay", "auto")
	daveStarted := time.Now()
	sst := super.waitSuperNode()
	carol.waitPublished()
	bob.waitPublished()

	st := carol.status()
	if !isRestricted(st) || st.Role != "client" {
		t.Errorf("carol's status: role %q (%s), reachability %q; want a client that says it is restricted", st.Role, st.RoleReason, st.Reachability)
	}

	out := carol.call(bob, "alice", false)
	if out.Route != "relay" || out.RelayPeerID != sst.PeerID {
		t.Errorf("carol -> bob: route %q via %q; want relay via the super-node %s", out.Route, out.RelayPeerID, sst.PeerID)
	}
	w.report("firewall-443-out", out,
		checkHeard(t, "bob", bob.heard, "alice"),
		checkHeard(t, "carol", out.heard, "bob"))

	in := bob.call(carol, "bob", false)
	if in.Route != "relay" {
		t.Errorf("bob -> carol: route %q; want relay (carol's side uses only the super-node's TURN)", in.Route)
	}
	w.report("firewall-443-in", in,
		checkHeard(t, "carol", carol.heard, "bob"),
		checkHeard(t, "bob", in.heard, "alice"))

	if st := carol.status(); st.Role != "client" {
		t.Errorf("carol's node became a %q (%s) behind the firewall; a restricted node never relays", st.Role, st.RoleReason)
	}

	t.Run("file", func(t *testing.T) {
		w.t = t
		fileThrough443(w, carol, bob, "alice")
	})

	t.Run("detected", func(t *testing.T) {
		w.t = t
		st := dave.waitRestricted(daveStarted)
		if st.Role != "client" {
			t.Errorf("dave's node is a %q behind a 443-only firewall; want client", st.Role)
		}
	})
}

// isRestricted reports whether a status says the node is restricted.
func isRestricted(st control.Status) bool {
	return strings.Contains(strings.ToLower(st.Reachability+" "+st.RoleReason), "restricted")
}

// waitRestricted waits until the user's status says the node is
// restricted (reachability or role reason), at most restrictedWait after
// its node started; without that the test fails.
func (u *user) waitRestricted(started time.Time) control.Status {
	t := u.w.t
	t.Helper()
	deadline := started.Add(restrictedWait)
	for {
		st := u.status()
		if isRestricted(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's node behind a 443-only firewall, without network.restricted, did not detect that it is restricted (a node that reaches nothing but TCP 443 sets itself restricted, as network.restricted = true does, and `status` says so): reachability %q, role %q (%s) %v after it started", u.name, st.Reachability, st.Role, st.RoleReason, time.Since(started).Round(time.Second))
		}
		time.Sleep(500 * time.Millisecond)
	}
}
