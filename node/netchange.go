package node

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/netwatch"
	"github.com/peercall/peercall/reach"
)

// A network change (docs/architecture.md, "Network change"): the node
// watches its interfaces (package netwatch) and libp2p's address events;
// when an address goes away (or a change is injected) it re-proves its
// reachability, checks in, republishes presence and restarts ICE on
// every live call; an address that only appears is checked in and
// published, and the calls keep their working path.
type netState struct {
	w     *netwatch.Watcher // nil when the interfaces cannot be read
	host  atomic.Pointer[host.Host]
	moved chan string // a removed libp2p address, or an injected change
}

// newNetWatch starts reading the interfaces (before the host: its
// address factory uses them); runNetWatch acts on their changes.
func (n *Node) newNetWatch() {
	n.netw.moved = make(chan string, 1)
	w, err := netwatch.New(netwatch.Config{Logger: n.log})
	if err != nil {
		n.log.Warn("cannot read the network interfaces; calls will not follow a network change", "err", err)
		return
	}
	n.netw.w = w
}

// libp2pRemoved starts the reason of a move libp2p reported; echoWindow is
// how long after an interface change such a report is its echo.
const (
	libp2pRemoved = "libp2p address removed: "
	echoWindow    = 5 * time.Second
)

// runNetWatch acts on network changes until Close, once the node's parts
// are up.
func (n *Node) runNetWatch() {
	var changes <-chan netwatch.Change
	if n.netw.w != nil {
		changes = n.netw.w.C()
	}
	n.wg.Go(func() {
		var ifaceAt time.Time // the last interface change that restarted calls
		bare := false         // and it left no usable address
		for {
			select {
			case <-n.ctx.Done():
				return
			case ch := <-changes:
				// An address that follows a removal which left none (the
				// machine between two networks) restarts the calls
				// again: the first restart had nowhere to gather.
				restart := ch.Removed() || (time.Since(ifaceAt) < echoWindow && bare)
				if restart {
					ifaceAt, bare = time.Now(), !hasUsable(ch.New)
				}
				n.networkChanged(n.ctx, fmt.Sprintf("interface addresses %v -> %v", ch.Old, ch.New), restart)
			case why := <-n.netw.moved:
				// libp2p reports a removed address up to seconds after
				// the interface change it follows: no second restart.
				echo := strings.HasPrefix(why, libp2pRemoved) && time.Since(ifaceAt) < echoWindow
				n.networkChanged(n.ctx, why, !echo)
			}
		}
	})
}

// hasUsable reports whether s holds an address other than loopback.
func hasUsable(s netwatch.Snapshot) bool {
	for _, a := range s {
		if !a.IsLoopback() {
			return true
		}
	}
	return false
}

// InjectNetworkChange acts as if the node's network had changed: a test
// hook, and what a user asks for after a change the node cannot see (a
// new NAT in front of an unchanged address).
func (n *Node) InjectNetworkChange(why string) { n.kickMoved("injected: " + why) }

func (n *Node) kickMoved(why string) {
	select {
	case n.netw.moved <- why:
	default:
	}
}

// localAddrsUpdated handles libp2p's EvtLocalAddressesUpdated: presence
// and the check-in follow every change; a removed direct address is a
// move.
func (n *Node) localAddrsUpdated(e event.EvtLocalAddressesUpdated) {
	n.addrsMayHaveChanged()
	n.link.CheckInNow()
	for _, r := range e.Removed {
		if !reach.IsCircuit(r.Address) {
			n.kickMoved(libp2pRemoved + r.Address.String())
			return
		}
	}
}

// networkChanged re-announces the node and, when an address went away,
// moves its calls to the new path.
func (n *Node) networkChanged(ctx context.Context, why string, removed bool) {
	n.log.Info("network changed", "why", why, "addrs", n.host.Addrs(), "restart_calls", removed)
	if n.relay != nil {
		n.relay.NetworkChanged()
	}
	n.link.NetworkChanged()
	n.addrsMayHaveChanged()
	if removed && n.calls != nil {
		if c := n.calls.NetworkChanged(ctx, why); c > 0 {
			n.log.Info("restarting ICE on the calls after a network change", "calls", c)
		}
	}
}

// hostOptions are the libp2p host's options beyond host.go's: admission's
// and the address factory.
func (n *Node) hostOptions() ([]libp2p.Option, error) {
	opts, err := n.adm.HostOptions()
	if err != nil {
		return nil, err
	}
	return append(opts, libp2p.AddrsFactory(n.freshAddrs)), nil
}

// freshAddrs is the host's address factory (netwatch.FreshAddrs): the
// addresses announced follow the interfaces within netwatch.Interval.
func (n *Node) freshAddrs(in []ma.Multiaddr) []ma.Multiaddr {
	hp := n.netw.host.Load()
	if n.netw.w == nil || hp == nil {
		return in
	}
	return netwatch.FreshAddrs(in, (*hp).Network().ListenAddresses(), n.netw.w.Addrs())
}

// mediaListenIPs are the addresses calls gather ICE candidates on: the
// host's specific listen addresses now (after a move, the new ones), or
// none (every interface) when it listens on an unspecified one.
func (n *Node) mediaListenIPs() []string {
	if hp := n.netw.host.Load(); hp != nil {
		return netwatch.ListenIPs((*hp).Network().ListenAddresses())
	}
	return n.opts.Media.ListenIPs
}
