// Package scenarios runs whole peercall deployments in the network lab
// (internal/netlab): a real peercall-directory and real peercall processes
// on hosts behind cone and symmetric NATs and a firewall that lets only TCP
// 443 out. Each scenario places a call with `peercall call --json`, checks
// that the callee recorded the speech the caller sent (testaudio), and logs
// one parseable line per scenario:
//
//	SCENARIO n=1 name=direct route=direct relay_peer_id= setup_ms=412 wall_s=9.8
//
// The tests need root, as netlab does, and skip with netlab's message
// otherwise. The package holds only tests and this comment.
package scenarios
