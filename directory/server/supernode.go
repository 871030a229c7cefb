package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/peercall/peercall/directory/store"
)

// Prover proves that the holder of a node key listens at a TCP address.
// directory/dialback's Prover dials the address over libp2p, whose Noise
// handshake shows the peer's key. addr is /ip4/A/tcp/P or /ip6/A/tcp/P.
type Prover interface {
	Prove(ctx context.Context, peerKey ed25519.PublicKey, addr string) error
}

// maxDialBackCache bounds the verdicts kept.
const maxDialBackCache = 16384

// superNodes checks super-node claims: a login that says it is one has its
// TCP addresses on the IP address it came from dialled back (never another
// address: the directory must not be made to dial third parties), in a
// bounded number of workers, each dial bounded in time, verdicts cached.
// The node becomes a super-node in the store (listed by /v1/bootstrap)
// once one of its addresses proved its key.
type superNodes struct {
	s      *Server
	prover Prover
	jobs   chan superJob

	mu    sync.Mutex
	cache map[string]verdict // peer ID + " " + address
}

type verdict struct {
	ok    bool
	until time.Time
}

// superJob is one login's addresses still to dial.
type superJob struct {
	username, peerID string
	key              ed25519.PublicKey
	seen             time.Time
	verified         []string // proved already (cached verdicts)
	pending          []string
}

func newSuperNodes(s *Server, p Prover) *superNodes {
	return &superNodes{s: s, prover: p, jobs: make(chan superJob, s.cfg.Limits.DialBackQueue), cache: map[string]verdict{}}
}

// start runs the workers until ctx is done; Server.Close waits for them.
func (sn *superNodes) start(ctx context.Context, wg *sync.WaitGroup) {
	for range sn.s.cfg.Limits.DialBackConcurrency {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-sn.jobs:
					sn.check(ctx, j)
				}
			}
		})
	}
}

// claim handles a login's super-node claim: it returns the addresses known
// (from the cache) to be the node's, to record with the sighting, and
// queues the others for a dial-back. sg is the sighting about to be
// recorded.
func (sn *superNodes) claim(ip netip.Addr, sg store.Sighting, key ed25519.PublicKey, addrs []string) (verified []string, queue func()) {
	cands := dialable(ip, addrs, sn.s.cfg.Limits.DialBackAddrs)
	if len(cands) == 0 {
		sn.s.metrics.dialBacks.WithLabelValues("no_address").Inc()
		return nil, func() {}
	}
	now := time.Now()
	var pending []string
	sn.mu.Lock()
	for _, a := range cands {
		v, ok := sn.cache[sg.PeerID+" "+a]
		switch {
		case ok && now.Before(v.until) && v.ok:
			verified = append(verified, a)
		case ok && now.Before(v.until):
			// failed lately: not dialled again before the verdict expires
		default:
			pending = append(pending, a)
		}
	}
	sn.mu.Unlock()
	if len(verified) > 0 {
		sn.s.metrics.dialBacks.WithLabelValues("cached").Inc()
	}
	if len(pending) == 0 {
		return verified, func() {}
	}
	j := superJob{username: sg.Username, peerID: sg.PeerID, key: key, seen: sg.Seen, verified: verified, pending: pending}
	return verified, func() {
		select {
		case sn.jobs <- j:
		default:
			sn.s.metrics.dialBacks.WithLabelValues("queue_full").Inc()
		}
	}
}

// check dials a job's pending addresses and records what it proved.
func (sn *superNodes) check(ctx context.Context, j superJob) {
	l := sn.s.cfg.Limits
	proved := slices.Clone(j.verified)
	for _, a := range j.pending {
		dctx, cancel := context.WithTimeout(ctx, l.DialBackTimeout)
		err := sn.prover.Prove(dctx, j.key, a)
		cancel()
		if ctx.Err() != nil {
			return
		}
		ttl, result := l.DialBackTTL, "ok"
		if err != nil {
			ttl, result = l.DialBackFailTTL, "failed"
			sn.s.log.Info("super-node claim not proved", "user", j.username, "peer", j.peerID, "addr", a, "err", err)
		} else {
			proved = append(proved, a)
		}
		sn.s.metrics.dialBacks.WithLabelValues(result).Inc()
		sn.remember(j.peerID+" "+a, verdict{ok: err == nil, until: time.Now().Add(ttl)})
	}
	if len(proved) == len(j.verified) {
		return // nothing new
	}
	err := sn.s.store.MarkSuperNode(ctx, j.username, j.peerID, j.seen, proved)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// a newer login replaced the sighting; it is checked on its own
	case err != nil:
		sn.s.log.Warn("record a verified super-node", "user", j.username, "peer", j.peerID, "err", err)
	default:
		sn.s.log.Info("super-node verified", "user", j.username, "peer", j.peerID, "addrs", proved)
	}
}

// remember caches a verdict, keeping the cache bounded: when full, the
// expired verdicts go, and if none had, an arbitrary half.
func (sn *superNodes) remember(key string, v verdict) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if len(sn.cache) >= maxDialBackCache {
		now := time.Now()
		for k, old := range sn.cache {
			if now.After(old.until) {
				delete(sn.cache, k)
			}
		}
		for k := range sn.cache {
			if len(sn.cache) < maxDialBackCache/2 {
				break
			}
			delete(sn.cache, k)
		}
	}
	sn.cache[key] = v
}

// dialable returns the TCP addresses among addrs that are on ip itself
// (/ip4/A/tcp/P or /ip6/A/tcp/P, optionally ending in /p2p/ID), without
// their /p2p part, at most max of them.
func dialable(ip netip.Addr, addrs []string, max int) []string {
	var out []string
	for _, a := range addrs {
		parts := strings.Split(a, "/")
		if len(parts) == 7 && parts[5] == "p2p" {
			parts = parts[:5]
		}
		if len(parts) != 5 || parts[0] != "" || (parts[1] != "ip4" && parts[1] != "ip6") || parts[3] != "tcp" {
			continue
		}
		host, err := netip.ParseAddr(parts[2])
		if err != nil || host.Zone() != "" || host != ip || host.Is4In6() || (parts[1] == "ip4") != host.Is4() {
			continue
		}
		port, err := strconv.ParseUint(parts[4], 10, 16)
		if err != nil || port == 0 || strconv.FormatUint(port, 10) != parts[4] {
			continue
		}
		c := "/" + parts[1] + "/" + host.String() + "/tcp/" + parts[4]
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
		if len(out) == max {
			break
		}
	}
	return out
}
