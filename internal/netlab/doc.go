// Package netlab builds small real networks out of Linux network namespaces so
// that a test reads like the topology it needs:
//
//	lab := netlab.New(t)
//	inet := lab.Internet()
//	dir := lab.Host("directory", inet)
//	home := lab.Router("home", inet, netlab.ConeNAT)
//	alice := lab.Host("alice", home.LAN())
//	corp := lab.Router("corp", inet, netlab.NoNAT, netlab.Firewall(netlab.AllowOutTCP(443)))
//
// # Model
//
// A Segment is one Ethernet: a Linux bridge in a namespace of its own. Every
// machine (Host or Router) is a namespace joined to a segment by a veth pair
// (eth0 in a host, wan in a router) whose other end is a bridge port. A Router
// also owns a LAN segment (its "lan" interface) and forwards between the two
// with net.ipv4.ip_forward=1 set inside its own namespace only. Nothing is
// configured in the root namespace: no links, no routes, no iptables rules.
//
// # Address plan
//
// Only 198.18.0.0/15 (RFC 2544 benchmarking space) is used:
//
//	198.18.0.0/24   the internet segment; machines get .2, .3, ... in order
//	198.19.N.0/24   the LAN of the N-th router (N = 1, 2, ...); the router is .1,
//	                its hosts .2, .3, ...
//
// Hosts on a LAN have a default route through their router. Routers have a
// default route through their WAN segment's router, if it has one. Internet
// machines have no default route: they reach the internet segment and the LANs
// of NoNAT routers (announced to the WAN segment as routes via the router's
// WAN address), and nothing behind a NAT.
//
// # NAT kinds, as Linux conntrack gives them (checked by this package's tests)
//
//   - NoNAT: plain routing; LAN addresses are seen on the internet.
//   - ConeNAT: iptables MASQUERADE. Mapping is endpoint-independent in
//     practice: nf_nat keeps a flow's source port when the translated tuple is
//     still unique, so one UDP socket shows the same external address:port to
//     every destination (it can change only on a tuple collision). Filtering is
//     address-and-port dependent ("port-restricted cone"): an inbound packet
//     is translated only if it matches a conntrack entry, i.e. comes from an
//     address:port the LAN socket has sent to. An idle UDP entry expires after
//     nf_conntrack_udp_timeout (30 s), or 120 s (nf_conntrack_udp_timeout_stream)
//     once it has carried traffic both ways; the
//     MappingTimeout option shortens both for a router.
//   - SymmetricNAT: MASQUERADE --random-fully: every new conntrack entry (every
//     new destination address:port) gets a fresh random source port. Filtering
//     as for ConeNAT.
//
// NAT routers also drop new flows coming in on the WAN, to the LAN or to the
// router itself (ICMP excepted), as a home router does. The INPUT drop is what
// makes two ConeNATs hole-punchable: without it, a peer's packet reaching the
// mapped port before the LAN host has sent to that peer is delivered to the
// router, leaves a confirmed conntrack entry, and the LAN host's own packet to
// the peer then clashes with it and is given another port (TestHolePunch
// fails that way when the rule is removed). ConeNAT to SymmetricNAT and
// SymmetricNAT to SymmetricNAT do not punch. Firewall rules (Firewall, AllowOutTCP, AllowOutUDP) make the
// router's FORWARD chain default-deny: LAN-to-WAN flows matching a rule and
// the replies of established flows pass, everything else is dropped silently.
//
// # Running things
//
// Host.Command runs a program in a machine (`ip netns exec`); Host.Start does
// the same with output captured for the test log and a kill at cleanup;
// BuildBinary builds a main package once per test process for it. Host.Run
// runs Go code on a thread inside the namespace (sockets opened there stay
// there). Host.Kill, SetDown/SetUp and Impair (loss, rate; delay needs sch_netem)
// make failures. Profiles (lan, dsl, wan, bad-wifi) describe realistic paths: delay, jitter
// with reordering and Gilbert-Elliott bursty loss; Shaper makes their
// per-packet decisions (TestProfilesImpose measures them). A link is shaped
// from the topology: lab.Host(name, seg, netlab.Link(p)) or
// lab.Router(name, seg, nat, netlab.WANLink(p)) make the machine's link two
// TAP devices (its interface and its bridge port) with a userspace stage
// in the test process between them, applying p each way (the kernel here has
// no sch_netem); Profile.Half is each end's share of a path between two
// shaped machines, Host.LinkStats what a stage did, and TestLinkImposes
// measures what it imposes. The labecho command answers UDP and TCP with the source
// address it saw.
//
// A scenario with a real binary reads:
//
//	bin := netlab.BuildBinary(t, "github.com/peercall/peercall/cmd/peercall-directory")
//	srv := dir.Start(nil, bin, "--data", t.TempDir(), "--listen", dir.Addr().String()+":7443")
//	if err := srv.WaitFor(ctx, "listening on"); err != nil {
//		t.Fatal(err)
//	}
//	out, err := alice.Command(ctx, "curl", "-sk", "https://"+dir.Addr().String()+":7443/v1/key").Output()
//
// # Lifetime
//
// Namespaces are named pcl-<lab id>-<pid>-<name> (segments pcl-<id>-<pid>-sw.<name>);
// interface names are fixed and short (eth0, wan, lan, p1, p2, ...). Cleanup
// kills every process left in the lab's namespaces and deletes them, which
// removes their links and iptables rules with them; it runs from t.Cleanup, so
// also after a failed test. New also deletes pcl- namespaces whose owning
// process is gone (a test binary killed before its cleanup ran): each test
// process holds an flock on /run/netlab/<pid>.lock while it lives, and the
// sweep never touches the namespaces of a pid whose lock is held, nor, when
// a pid has no lock file, of a pid any process still has.
//
// netlab needs root (CAP_NET_ADMIN) and the ip and iptables commands; without
// them New skips the test saying what is missing.
package netlab
