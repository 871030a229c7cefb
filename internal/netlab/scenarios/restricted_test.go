package scenarios

import (
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/netlab"
	"github.com/peercall/peercall/node"
)

// restrictedWait bounds a node's noticing that only TCP 443 gets out.
const restrictedWait = 30 * time.Second

// TestFirewall443 is scenario 4: carol sits behind a default-deny firewall
// that lets out only TCP to port 443 (no UDP at all). The directory listens
// on 443 so she can log in; a super-node on the internet serves TURN over
// TLS on 443. carol's node notices it is restricted, says so in `status`,
// stays a client although it runs with --relay auto, and calls in and out
// succeed through the super-node's TURN.
func TestFirewall443(t *testing.T) {
	t.Parallel()
	w := newWorldDirPort(t, 4, 443)
	super := w.superNode("super", map[string]any{"turn_tls_port": 443})
	bob := w.user("bob", w.lab.Host("bob", w.inet), w.labRanges())
	bob.run("bob")
	corp := w.lab.Router("corp", w.inet, netlab.NoNAT, netlab.Firewall(netlab.AllowOutTCP(443)))
	carol := w.user("carol", w.lab.Host("carol", corp.LAN()), w.labRanges())
	carol.run("alice", "--relay", "auto")

	st := carol.waitRestricted()
	if st.Role != "client" {
		t.Errorf("carol's node is a %q behind a 443-only firewall; want client", st.Role)
	}
	sst := super.waitSuperNode()
	carol.waitCircuit()
	carol.waitPublished()

	out := carol.call(bob, "alice", false)
	if out.Route != "relay" || out.RelayPeerID != sst.PeerID {
		t.Errorf("carol -> bob: route %q via %q; want relay via the super-node %s", out.Route, out.RelayPeerID, sst.PeerID)
	}
	checkHeard(t, "bob", bob.heard, "alice")
	checkHeard(t, "carol", out.heard, "bob")
	w.report("firewall-443-out", out)

	in := bob.call(carol, "bob", false)
	if in.Route != "relay" || in.RelayPeerID != sst.PeerID {
		t.Errorf("bob -> carol: route %q via %q; want relay via the super-node %s", in.Route, in.RelayPeerID, sst.PeerID)
	}
	checkHeard(t, "carol", carol.heard, "bob")
	checkHeard(t, "bob", in.heard, "alice")
	w.report("firewall-443-in", in)

	if st := carol.status(); st.Role != "client" {
		t.Errorf("carol's node became a %q (%s) behind the firewall; a restricted node never relays", st.Role, st.RoleReason)
	}
}

// waitRestricted waits until the user's status says the node is
// restricted (reachability or role reason); without that the test skips
// naming the missing piece.
func (u *user) waitRestricted() node.Status {
	t := u.w.t
	t.Helper()
	deadline := time.Now().Add(restrictedWait)
	for {
		st := u.status()
		if strings.Contains(strings.ToLower(st.Reachability+" "+st.RoleReason), "restricted") {
			return st
		}
		if time.Now().After(deadline) {
			t.Skipf("needs restricted-mode detection (a node that reaches nothing but TCP 443 sets itself restricted, as network.restricted = true does, and `status` says so in reachability or role_reason): %s behind a 443-only firewall reports reachability %q, role %q (%s) after %v", u.name, st.Reachability, st.Role, st.RoleReason, restrictedWait)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
