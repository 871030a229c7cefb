package node

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/libp2p/go-libp2p"
	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/peercall/peercall/internal/p2phost"
	"github.com/peercall/peercall/relay/sharedport"
)

// ErrPortInUse is wrapped when the configured libp2p port is taken (another
// program, or another node on another home).
var ErrPortInUse = errors.New("libp2p port is in use")

// listenMultiaddrs turns host:port listen settings into a TCP and a QUIC
// multiaddr each. With anyPort the ports are replaced by 0 (any free port).
func listenMultiaddrs(listen []string, anyPort bool) ([]ma.Multiaddr, error) {
	var out []ma.Multiaddr
	for _, a := range listen {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("listen address %q is not host:port: %w", a, err)
		}
		if anyPort {
			port = "0"
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return nil, fmt.Errorf("listen address %q: port must be 0..65535", a)
		}
		ipProto, ipText := "ip4", "0.0.0.0"
		if host != "" {
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return nil, fmt.Errorf("listen address %q: host must be an IP address: %w", a, err)
			}
			ip = ip.Unmap()
			ipText = ip.String()
			if ip.Is6() {
				ipProto = "ip6"
			}
		}
		for _, s := range []string{
			fmt.Sprintf("/%s/%s/tcp/%s", ipProto, ipText, port),
			fmt.Sprintf("/%s/%s/udp/%s/quic-v1", ipProto, ipText, port),
		} {
			m, err := ma.NewMultiaddr(s)
			if err != nil {
				return nil, fmt.Errorf("listen address %q: %w", a, err)
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// newHost starts the node's libp2p host: TCP and QUIC on every listen
// address, p2phost.Options (TLS 1.3 or Noise, TCP first to a LAN peer),
// the identity key as peer ID, and the circuit relay v2 client transport
// (a node behind a NAT is reached through its super-node's circuit:
// relay_circuit.go). When a configured port is taken and freePortFallback
// is set, it listens on free ports instead. extra, when set, gives further
// options for each attempt (admission's resource manager, gater and
// connection manager: new ones each time, as a failed host closes its own).
func newHost(key ed25519.PrivateKey, listen []string, freePortFallback bool, shared net.Listener, extra func() ([]libp2p.Option, error)) (host.Host, error) {
	priv, err := ic.UnmarshalEd25519PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	if err := checkAssignable(listen); err != nil {
		return nil, err
	}
	start := func(anyPort bool) (host.Host, error) {
		addrs, err := listenMultiaddrs(listen, anyPort)
		if err != nil {
			return nil, err
		}
		// Without SO_REUSEPORT a second node cannot silently share a port
		// with the first (the kernel would split incoming connections
		// between them), so a taken port is detected.
		tcpTransport := libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport())
		if shared != nil {
			// The shared port's libp2p route (relay.shared_port) is one
			// more TCP listen address, served from the route.
			a, err := manet.FromNetAddr(shared.Addr())
			if err != nil {
				return nil, fmt.Errorf("relay.shared_port: %w", err)
			}
			addrs = append(addrs, a)
			tcpTransport = libp2p.Transport(sharedport.NewSharedTCPTransport(shared), tcp.DisableReuseport())
		}
		opts := append(p2phost.Options(), libp2p.Identity(priv), libp2p.ListenAddrs(addrs...), tcpTransport, libp2p.EnableRelay(), libp2p.DisableMetrics())
		if extra != nil {
			more, err := extra()
			if err != nil {
				return nil, err
			}
			opts = append(opts, more...)
		}
		h, err := libp2p.New(opts...)
		if err != nil {
			return nil, err
		}
		// libp2p succeeds when any address listens; a node half on its
		// port (QUIC yes, TCP taken) is not what was configured.
		if got := directAddrs(h.Network().ListenAddresses()); len(got) < len(addrs) {
			h.Close()
			return nil, fmt.Errorf("only %v of %v could listen", got, addrs)
		}
		return h, nil
	}
	h, err := start(false)
	if err == nil {
		return h, nil
	}
	if !freePortFallback {
		return nil, fmt.Errorf("%w: listen on %v: %w; stop what uses the port or set network.listen (or --listen) to another", ErrPortInUse, listen, err)
	}
	h, err2 := start(true)
	if err2 != nil {
		return nil, fmt.Errorf("listen on %v: %w (and on free ports: %w)", listen, err, err2)
	}
	return h, nil
}

// ErrNotLocalAddress is wrapped when a listen address is not one of this
// machine's.
var ErrNotLocalAddress = errors.New("listen address is not an address of this machine")

// checkAssignable refuses listen hosts that are not this machine's (a
// typo, or an address of another network), which libp2p would report as
// a failed listen indistinguishable from a busy port.
func checkAssignable(listen []string) error {
	for _, a := range listen {
		host, _, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			continue
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || ip.IsUnspecified() {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(ip.Unmap().String(), "0"))
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			return fmt.Errorf("%w: %s (in network.listen or --listen); use one of the machine's addresses (see `ip addr`) or 0.0.0.0 for all of them", ErrNotLocalAddress, a)
		}
		if err == nil {
			ln.Close()
		}
	}
	return nil
}
