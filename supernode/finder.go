package supernode

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/peercall/peercall/relay/turncreds"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/internal/brief"
	"github.com/peercall/peercall/presence"
	"github.com/peercall/peercall/relay"
)

// ErrNoRelay is wrapped when no super-node gave relay credentials (none
// found, all at their limits, or all unreachable).
var ErrNoRelay = errors.New("no relay (super-node) available")

// Client-side bounds.
const (
	// maxRelayCandidates is how many super-nodes a lookup keeps.
	maxRelayCandidates = 8
	// relayLookupTimeout bounds a DHT provider lookup plus the pings.
	relayLookupTimeout = 8 * time.Second
	// relayPingTimeout bounds one RTT measurement.
	relayPingTimeout = 3 * time.Second
	// quickRelayLookup bounds the first lookup of a call that can do
	// without a relay.
	quickRelayLookup = 2 * time.Second
	// quickRelayGrace is how long a call's lookup keeps collecting
	// super-nodes after the first one was found: a DHT provider query
	// otherwise runs until it has maxRelayCandidates+1 of them or has
	// asked every close peer, and on a small network (or one with peers
	// that do not answer) that is the whole quickRelayLookup, which the
	// callee of a call spent before answering (443-out set-up 251 ms ->
	// 2.2 s). The finder's own refresh still runs the whole query.
	quickRelayGrace = 150 * time.Millisecond
	// maxRelayBackoff caps the jittered backoff after failed lookups.
	maxRelayBackoff = time.Minute
)

// Choice is the relay a call uses: the ICE servers (TURN with fresh
// credentials) and the super-node that issued them.
type Choice struct {
	Servers []webrtc.ICEServer
	Relay   peer.ID
	RTT     time.Duration
}

// candidate is a super-node and its measured round-trip time.
type candidate struct {
	ID  peer.ID
	RTT time.Duration
}

// finder keeps a list of super-nodes sorted by RTT, refreshed every
// Refresh (jittered) and, with jittered exponential backoff, when the list
// holds fewer than two or the fastest one disconnects.
type finder struct {
	m        *Manager
	kick     chan struct{}
	notifiee *network.NotifyBundle

	mu       sync.Mutex
	list     []candidate
	listAt   time.Time
	failures int
}

func newFinder(m *Manager) *finder {
	c := &finder{m: m, kick: make(chan struct{}, 1)}
	c.notifiee = &network.NotifyBundle{DisconnectedF: func(_ network.Network, conn network.Conn) {
		c.mu.Lock()
		primary := len(c.list) > 0 && c.list[0].ID == conn.RemotePeer()
		c.mu.Unlock()
		if primary && m.h.Network().Connectedness(conn.RemotePeer()) != network.Connected {
			c.trigger()
		}
	}}
	m.h.Network().Notify(c.notifiee)
	return c
}

// trigger asks the loop for a lookup soon.
func (c *finder) trigger() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// run refreshes the list until ctx ends.
func (c *finder) run(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	defer c.m.h.Network().StopNotify(c.notifiee)
	wait := c.m.opts.Refresh / 4 // the first lookup, once the DHT has peers
	for {
		t := time.NewTimer(jitter(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.kick:
			t.Stop()
			wait = c.backoff()
			t = time.NewTimer(jitter(wait))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		case <-t.C:
		}
		// Fewer than two super-nodes is a short list too: a relay-only
		// call then has no standby relay (calls.go), and the one it has
		// may be a super-node promoted a moment ago whose peers have not
		// published yet. Look again with the same backoff (1 s doubling,
		// at most a minute: on a network with a single super-node, one
		// DHT query a minute) rather than a whole Refresh later.
		if n := c.refresh(ctx, 0); n < 2 {
			wait = c.backoff()
		} else {
			c.mu.Lock()
			c.failures = 0
			c.mu.Unlock()
			wait = c.m.opts.Refresh
		}
	}
}

// backoff is the next wait after a failure: 1 s (or Refresh, if shorter)
// doubling up to maxRelayBackoff.
func (c *finder) backoff() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	base := min(time.Second, c.m.opts.Refresh)
	d := base << min(c.failures, 10)
	c.failures++
	return min(d, maxRelayBackoff)
}

// jitter spreads d over [0.8d, 1.2d) so that nodes do not look up in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(d)*2/5+1))
	if err != nil {
		return d
	}
	return d*4/5 + time.Duration(n.Int64())
}

// refresh looks the super-nodes up and measures them; it returns how many
// answered.
func (c *finder) refresh(ctx context.Context, grace time.Duration) int {
	list := c.m.findSuperNodes(ctx, grace)
	c.mu.Lock()
	c.list, c.listAt = list, time.Now()
	c.mu.Unlock()
	return len(list)
}

// candidates returns the list. An empty list is looked up at once when
// wait is set (the call needs a relay) or when no lookup ran yet, bounded
// by quickRelayLookup so that a direct call is not held up.
func (c *finder) candidates(ctx context.Context, wait bool) []candidate {
	c.mu.Lock()
	list := append([]candidate(nil), c.list...)
	never := c.listAt.IsZero()
	c.mu.Unlock()
	if len(list) > 0 || (!wait && !never) {
		return list
	}
	if !wait {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, quickRelayLookup)
		defer cancel()
	}
	if c.refresh(ctx, quickRelayGrace) > 0 {
		c.trigger() // a partial list: the loop looks again, the whole query
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]candidate(nil), c.list...)
}

// drop removes id from the list (it refused or vanished) and asks for a
// lookup when the list runs low.
func (c *finder) drop(id peer.ID) {
	c.mu.Lock()
	out := c.list[:0]
	for _, x := range c.list {
		if x.ID != id {
			out = append(out, x)
		}
	}
	c.list = out
	low := len(out) < 2
	c.mu.Unlock()
	if low {
		c.trigger()
	}
}

// SuperNodes are the known super-nodes, fastest first, with their RTTs.
func (m *Manager) SuperNodes() []Choice {
	m.finder.mu.Lock()
	defer m.finder.mu.Unlock()
	out := make([]Choice, len(m.finder.list))
	for i, x := range m.finder.list {
		out[i] = Choice{Relay: x.ID, RTT: x.RTT}
	}
	return out
}

// findSuperNodes finds providers of relay.ProviderKey in the DHT (this
// node excluded), pings each and returns those that answered, fastest
// first. With grace > 0 it stops collecting providers grace after the
// first one (a call waiting on it), else when the query ends.
func (m *Manager) findSuperNodes(ctx context.Context, grace time.Duration) []candidate {
	ctx, cancel := context.WithTimeout(ctx, relayLookupTimeout)
	defer cancel()
	qctx, qcancel := context.WithCancel(ctx)
	defer qcancel()
	var found []peer.AddrInfo
	var stop <-chan time.Time
	providers := m.routing.FindProvidersAsync(qctx, relay.ProviderKey(), maxRelayCandidates+1)
collect:
	for {
		select {
		case ai, ok := <-providers:
			if !ok {
				break collect
			}
			if ai.ID != m.h.ID() && len(found) < maxRelayCandidates {
				found = append(found, ai)
				if grace > 0 && stop == nil {
					t := time.NewTimer(grace)
					defer t.Stop()
					stop = t.C
				}
			}
		case <-stop:
			qcancel()
			for range providers { // the query ends on qctx; drain it
			}
			break collect
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var out []candidate
	for _, ai := range found {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rtt, err := m.measure(ctx, ai)
			if err != nil {
				m.log.Debug("super-node does not answer", "peer", ai.ID, "err", err)
				return
			}
			mu.Lock()
			out = append(out, candidate{ID: ai.ID, RTT: rtt})
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].RTT < out[j].RTT })
	return out
}

// measure connects to a super-node (keeping the connection: the second
// best stays ready) and measures one libp2p ping.
func (m *Manager) measure(ctx context.Context, ai peer.AddrInfo) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, relayPingTimeout)
	defer cancel()
	if m.h.Network().Connectedness(ai.ID) != network.Connected {
		if err := m.h.Connect(ctx, ai); err != nil {
			return 0, err
		}
	}
	select {
	case r := <-ping.Ping(ctx, m.h, ai.ID):
		return r.RTT, r.Error
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// PickRelay asks the super-nodes, fastest first, for TURN credentials and
// returns the first that gives them. A super-node at its limits refuses at
// once and the next is asked; the error, wrapping ErrNoRelay, says why each
// one refused. With need set an empty list is looked up first, however
// long that takes (within ctx).
func (m *Manager) PickRelay(ctx context.Context, callee peer.ID, need bool) (Choice, error) {
	return m.pickFrom(ctx, m.relayCandidates(ctx, callee, need))
}

// relayCandidates are the super-nodes PickRelay asks, in its order.
func (m *Manager) relayCandidates(ctx context.Context, callee peer.ID, need bool) []candidate {
	cands := m.finder.candidates(ctx, need)
	if m.Promoted() {
		cands = append(cands, candidate{ID: m.h.ID()}) // its own TURN, last
	}
	// The callee relaying its own call works, but a third party is kinder
	// to the callee's uplink: the callee goes last.
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].ID != callee && cands[j].ID == callee })
	return cands
}

// pickFrom asks cands in order for TURN credentials (PickRelay).
func (m *Manager) pickFrom(ctx context.Context, cands []candidate) (Choice, error) {
	if len(cands) == 0 {
		return Choice{}, fmt.Errorf("%w: no super-node found in the DHT (none is online, or this node has no DHT peers yet)", ErrNoRelay)
	}
	var why []string
	for _, c := range cands {
		creds, err := m.requestCredentials(ctx, c.ID)
		if err == nil {
			return Choice{Servers: m.pinServers(c.ID, []webrtc.ICEServer{creds.ICEServer()}), Relay: c.ID, RTT: c.RTT}, nil
		}
		why = append(why, fmt.Sprintf("%s: %v", brief.ID(c.ID), err))
		var re *turncreds.RemoteError
		if !errors.As(err, &re) {
			m.finder.drop(c.ID) // unreachable: look for others
		}
		if ctx.Err() != nil {
			break
		}
	}
	return Choice{}, fmt.Errorf("%w: %s", ErrNoRelay, brief.List(why, 4))
}

// ICEServers implements ICEServerSource with PickRelay.
func (m *Manager) ICEServers(ctx context.Context, callee peer.ID) ([]webrtc.ICEServer, error) {
	ch, err := m.PickRelay(ctx, callee, false)
	return ch.Servers, err
}

// requestCredentials runs /peercall/relay/1 with super-node id.
func (m *Manager) requestCredentials(ctx context.Context, id peer.ID) (turncreds.Credentials, error) {
	cert, err := m.cert()
	if err != nil {
		return turncreds.Credentials{}, err
	}
	if id == m.h.ID() {
		return m.ownCredentials(cert)
	}
	ctx, cancel := context.WithTimeout(ctx, relayCredentialTimeout)
	defer cancel()
	s, err := m.h.NewStream(ctx, id, turncreds.ProtocolID)
	if err != nil {
		return turncreds.Credentials{}, fmt.Errorf("open %s: %w", turncreds.ProtocolID, err)
	}
	defer s.Close()
	dl, _ := ctx.Deadline()
	_ = s.SetDeadline(dl)
	var nonce [turncreds.NonceSize]byte
	_, _ = rand.Read(nonce[:])
	return turncreds.Request(s, cert, nonce)
}

// ownCredentials are a super-node's credentials for its own TURN server.
func (m *Manager) ownCredentials(cert *crypto.Certificate) (turncreds.Credentials, error) {
	m.mu.Lock()
	r := m.relay
	m.mu.Unlock()
	if r == nil || !m.Promoted() {
		return turncreds.Credentials{}, relay.ErrNotRunning
	}
	raw, err := presence.Ed25519Key(m.h.Peerstore().PubKey(m.h.ID()))
	if err != nil {
		return turncreds.Credentials{}, err
	}
	return r.IssueCredentials(cert, raw)
}
