package admission

import (
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
)

// expected counts, per peer, the dials this node makes to a peer whose
// directory certificate it has already verified (a presence record or a
// cached certificate naming that peer ID), so that the dial gets a
// certified peer's connection budget instead of the uncertified one.
//
// Why: libp2p reserves a connection in the peer's scope for every
// address it dials in parallel (TCP, QUIC, each circuit through a
// super-node), before the Noise handshake. An uncertified peer's budget
// is 2 outbound connections, so a callee with a circuit address and a
// public one or two saw its third parallel dial refused ("cannot
// reserve outbound connection"); when the two that got a slot were the
// slow ones, the call failed. The budget exists for peers that dial us
// unasked; a peer we chose to call, whose certificate the directory
// signed, is not one of them. Expectation does not certify: the hello
// still has to prove the certificate on the connection.
type expected struct {
	mu sync.Mutex
	n  map[peer.ID]int
}

// Expect gives p a certified peer's resource budget until done is called
// (once; later calls do nothing). Call it before dialling a peer whose
// certificate was verified out of band; Certified(p) stays false until
// p's hello or INVITE proves the certificate on a connection.
func (a *Admission) Expect(p peer.ID) (done func()) {
	e := &a.expect
	e.mu.Lock()
	if e.n == nil {
		e.n = map[peer.ID]int{}
	}
	e.n[p]++
	e.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.n[p]--; e.n[p] <= 0 {
				delete(e.n, p)
			}
		})
	}
}

// expecting reports whether a dial to p is expected (Expect).
func (a *Admission) expecting(p peer.ID) bool {
	a.expect.mu.Lock()
	defer a.expect.mu.Unlock()
	return a.expect.n[p] > 0
}

// budgetCertified is the resource manager's test for the certified
// budget: a certified peer, one this node is dialling on purpose, or one
// whose certificate it verified before (Config.Known). The last covers
// the dials no Expect wraps: a chat or contacts stream opened after a
// restart starts libp2p's dial worker for the peer, and a call or file
// transfer that dials next joins that worker, so its reservations were
// made under the uncertified budget (two outbound connections: QUIC dials
// that a TCP-only firewall leaves hanging held both, and the TCP dials
// that would have worked were refused).
func (a *Admission) budgetCertified(p peer.ID) bool {
	return a.Certified(p) || a.expecting(p) || (a.cfg.Known != nil && a.cfg.Known(p))
}
