package admission

import (
	"fmt"
	"math"
	"time"

	"github.com/peercall/peercall/relay/turncreds"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"

	"github.com/peercall/peercall/signalling"
)

// Protocols of peercall that admission sets per-peer limits for. The
// dial-back and DHT IDs are reach.ProtocolID and presence's kad protocol
// (same layer as admission, so spelled out here; node's tests check them).
const (
	SignalProtocol   = protocol.ID(signalling.ProtocolID)
	RelayProtocol    = protocol.ID(turncreds.ProtocolID)
	DialbackProtocol = protocol.ID("/peercall/dialback/1")
	KadProtocol      = protocol.ID("/peercall/kad/1.0.0")
)

// Limits are admission's budgets. The zero value of a field takes
// DefaultLimits' value.
type Limits struct {
	// HelloTimeout is how long a peer that connected to us may stay
	// without presenting a valid certificate.
	HelloTimeout time.Duration
	// MaxUncertified caps the uncertified peers connected to us at once;
	// MaxUncertifiedPerSubnet caps them per /24 (IPv4) or /56 (IPv6)
	// source subnet. When either is exceeded, the oldest uncertified peer
	// of that subnet (or of the subnet with the most) is disconnected.
	MaxUncertified, MaxUncertifiedPerSubnet int
	// Uncertified is the resource manager's limit for each uncertified
	// peer (certified peers get libp2p's default peer limit).
	Uncertified rcmgr.BaseLimit
	// SignalPerPeer caps a peer's concurrent inbound /peercall/signal/1
	// streams; UncertifiedSignal an uncertified peer's.
	SignalPerPeer, UncertifiedSignal int
	// Cooldown is how long a peer disconnected by admission is refused.
	Cooldown time.Duration
}

// DefaultLimits are the budgets of a node.
//
// Why these: a legitimate peer is uncertified for one round trip (the
// hello), so 5 s is generous on any path, and 64 uncertified peers at once
// admit hundreds of joining nodes a second. 16 per subnet lets three
// attacking /24s hold 48 slots at most, and a newcomer from another subnet
// is never the one evicted. An uncertified peer needs a handful of streams
// (identify, hello, a DHT query or two, one INVITE): 8 inbound and 8
// outbound, each with yamux's 256 KiB initial window, so 4 MiB, and 1 MiB
// for streams being refused (yamux reserves a window before the stream
// limit is checked, and drops the whole connection of a peer that
// exceeds its memory: a flood of streams ends its connection). Certified callers have the
// whole of libp2p's default limits besides: the system, transient,
// service and protocol limits are the defaults plus 64 times that budget.
func DefaultLimits() Limits {
	return Limits{
		HelloTimeout:            5 * time.Second,
		MaxUncertified:          64,
		MaxUncertifiedPerSubnet: 16,
		Uncertified: rcmgr.BaseLimit{
			ConnsInbound: 2, ConnsOutbound: 2, Conns: 4,
			StreamsInbound: 8, StreamsOutbound: 8, Streams: 16,
			Memory: 5 << 20, FD: 2,
		},
		SignalPerPeer:     4,
		UncertifiedSignal: 1,
		Cooldown:          30 * time.Second,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.HelloTimeout == 0 {
		l.HelloTimeout = d.HelloTimeout
	}
	if l.MaxUncertified == 0 {
		l.MaxUncertified = d.MaxUncertified
	}
	if l.MaxUncertifiedPerSubnet == 0 {
		l.MaxUncertifiedPerSubnet = d.MaxUncertifiedPerSubnet
	}
	if l.Uncertified == (rcmgr.BaseLimit{}) {
		l.Uncertified = d.Uncertified
	}
	if l.SignalPerPeer == 0 {
		l.SignalPerPeer = d.SignalPerPeer
	}
	if l.UncertifiedSignal == 0 {
		l.UncertifiedSignal = d.UncertifiedSignal
	}
	if l.Cooldown == 0 {
		l.Cooldown = d.Cooldown
	}
	return l
}

func (l Limits) validate() error {
	switch {
	case l.HelloTimeout < 0 || l.Cooldown < 0:
		return fmt.Errorf("admission: a timeout is negative (hello %v, cooldown %v): use a positive duration or 0 for the default", l.HelloTimeout, l.Cooldown)
	case l.MaxUncertified < 1 || l.MaxUncertifiedPerSubnet < 1 || l.MaxUncertifiedPerSubnet > l.MaxUncertified:
		return fmt.Errorf("admission: uncertified caps %d in all, %d per subnet: use 1 <= per subnet <= in all", l.MaxUncertified, l.MaxUncertifiedPerSubnet)
	case l.SignalPerPeer < 1 || l.UncertifiedSignal < 0 || l.UncertifiedSignal > l.SignalPerPeer:
		return fmt.Errorf("admission: signal streams per peer %d, uncertified %d: use 0 <= uncertified <= per peer, per peer >= 1", l.SignalPerPeer, l.UncertifiedSignal)
	}
	return nil
}

// limitConfig is the resource manager's configuration: libp2p's
// autoscaled defaults (with its service limits), peercall's per-peer
// protocol caps, and the uncertified peers' whole budget added to every
// scope they share with certified peers (system, transient, each service
// and protocol), so that it is a reserve of its own.
func (l Limits) limitConfig() (cfg rcmgr.ConcreteLimitConfig, certified rcmgr.BaseLimit) {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	base := scaling.AutoScale().ToPartialLimitConfig()
	perPeer := map[protocol.ID]int{
		SignalProtocol:   l.SignalPerPeer,
		HelloProtocol:    2,
		DialbackProtocol: 2,
		RelayProtocol:    4,
		KadProtocol:      32,
	}
	if base.ProtocolPeer == nil {
		base.ProtocolPeer = map[protocol.ID]rcmgr.ResourceLimits{}
	}
	def := build(base.ProtocolPeerDefault)
	for p, n := range perPeer {
		b := def
		b.StreamsInbound = n
		base.ProtocolPeer[p] = b.ToResourceLimits()
	}
	all := l.uncertifiedTotal()
	base.System = add(base.System, all)
	base.Transient = add(base.Transient, all)
	base.ServiceDefault = add(base.ServiceDefault, all)
	base.ProtocolDefault = add(base.ProtocolDefault, all)
	for k, v := range base.Service {
		base.Service[k] = add(v, all)
	}
	for k, v := range base.Protocol {
		base.Protocol[k] = add(v, all)
	}
	return base.Build(rcmgr.ConcreteLimitConfig{}), build(base.PeerDefault)
}

// uncertifiedTotal is the most all uncertified peers can hold together.
func (l Limits) uncertifiedTotal() rcmgr.BaseLimit {
	u, n := l.Uncertified, l.MaxUncertified
	return rcmgr.BaseLimit{
		Streams: u.Streams * n, StreamsInbound: u.StreamsInbound * n, StreamsOutbound: u.StreamsOutbound * n,
		Conns: u.Conns * n, ConnsInbound: u.ConnsInbound * n, ConnsOutbound: u.ConnsOutbound * n,
		FD: u.FD * n, Memory: u.Memory * int64(n),
	}
}

func build(r rcmgr.ResourceLimits) rcmgr.BaseLimit { return r.Build(rcmgr.BaseLimit{}) }

// add raises r by u, saturating (unlimited stays unlimited).
func add(r rcmgr.ResourceLimits, u rcmgr.BaseLimit) rcmgr.ResourceLimits {
	b := build(r)
	sum := func(a, b int) int {
		if a > math.MaxInt-b {
			return math.MaxInt
		}
		return a + b
	}
	b.Streams, b.StreamsInbound, b.StreamsOutbound = sum(b.Streams, u.Streams), sum(b.StreamsInbound, u.StreamsInbound), sum(b.StreamsOutbound, u.StreamsOutbound)
	b.Conns, b.ConnsInbound, b.ConnsOutbound = sum(b.Conns, u.Conns), sum(b.ConnsInbound, u.ConnsInbound), sum(b.ConnsOutbound, u.ConnsOutbound)
	b.FD = sum(b.FD, u.FD)
	if b.Memory > math.MaxInt64-u.Memory {
		b.Memory = math.MaxInt64
	} else {
		b.Memory += u.Memory
	}
	return b.ToResourceLimits()
}

// limiter is the resource manager's Limiter: fixed limits, except each
// peer's, which are the certified or the uncertified limit depending on
// what the peer has proven by now (checked at every reservation, so a
// peer that presents its certificate gets the larger limit at once).
type limiter struct {
	rcmgr.Limiter
	certified, uncertified rcmgr.BaseLimit
	isCertified            func(peer.ID) bool
}

func (l *limiter) GetPeerLimits(p peer.ID) rcmgr.Limit { return peerLimit{l, p} }

type peerLimit struct {
	l *limiter
	p peer.ID
}

func (pl peerLimit) pick() rcmgr.BaseLimit {
	if pl.l.isCertified(pl.p) {
		return pl.l.certified
	}
	return pl.l.uncertified
}

func (pl peerLimit) GetMemoryLimit() int64                  { return pl.pick().GetMemoryLimit() }
func (pl peerLimit) GetStreamLimit(d network.Direction) int { return pl.pick().GetStreamLimit(d) }
func (pl peerLimit) GetStreamTotalLimit() int               { return pl.pick().GetStreamTotalLimit() }
func (pl peerLimit) GetConnLimit(d network.Direction) int   { return pl.pick().GetConnLimit(d) }
func (pl peerLimit) GetConnTotalLimit() int                 { return pl.pick().GetConnTotalLimit() }
func (pl peerLimit) GetFDLimit() int                        { return pl.pick().GetFDLimit() }
