// Package scenarios runs whole peercall deployments in the network lab
// (internal/netlab): a real peercall-directory and real peercall processes
// on hosts behind cone and symmetric NATs and a firewall that lets only TCP
// 443 out. Each scenario places calls with `peercall call --json`, checks
// that each side recorded the speech the other sent (testaudio), and logs
// one parseable line per call:
//
//	SCENARIO n=1 name=direct profile=dsl route=direct relay_peer_id=- setup_ms=19 first_audio_ms=160 similarity=0.912 jitter_ms=6.5 buffer_ms=120.0 late_pct=0.68 call_wall_s=3.1 wall_s=14.7
//
// (setup_ms and first_audio_ms are the caller's summary's: from `call` to
// ICE and DTLS up, and to the first frame of the callee's audio played; similarity the worse direction's; profile the
// impairment the end users' access links ran on, PEERCALL_LAB_PROFILE, each
// access link taking half of it, ":plc" for nodes run with --no-fec;
// jitter_ms, buffer_ms and late_pct the caller's RFC 3550 jitter, mean jitter
// buffer depth and share of packets dropped late; call_wall_s is the `call` command's run
// time; wall_s is the time since the scenario's lab was built; the failover
// adds gap_ms, the caller's node's longest wait between two packets, its
// summary's longest_gap_ms, and polled_gap_ms, the test's coarser reading
// from polling status.) Each call also logs both sides' set-up phases (the nodes'
// "call set up" lines). `make lab-report` runs the scenarios several times
// and tabulates these lines (internal/netlab/labreport);
// PEERCALL_LAB_LOGS=DIR keeps every node's whole log there.
//
//	1 TestDirect          both on the internet: direct
//	2 TestConeNAT         callee behind a cone NAT: direct through it
//	2 TestConeNATs        both behind cone NATs: hole punched (STUN and
//	                      signalling from a super-node), direct
//	3 TestSymmetricNATs   both behind symmetric NATs: relayed by the
//	                      super-node; TestForcedRelay: call --force-relay
//	4 TestFirewall443     behind a firewall passing only TCP 443: calls in
//	                      and out through TURN on 443; restricted, client
//	5 TestRelayKilled     the relaying super-node dies: the call moves to
//	                      another, or ends with "relay lost" on both sides
//	6 TestDirectoryDown   directory dead: DHT, host cache, cached certificates
//	7 TestHostMoves       the caller's host moves behind another NAT mid-call: ICE restarts, the call goes on
//
// Every check fails when the behaviour it names is missing or regresses,
// with a message saying what peercall did instead; none skips for that.
// The tests need root and the ip and iptables commands, as netlab does, and
// skip with netlab's message naming what is missing otherwise. The package
// holds only tests and this comment.
package scenarios
