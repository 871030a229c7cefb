package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/quic-go/quic-go"
)

// Restricted-network detection bounds: a check dials at most
// restrictedProbeTargets addresses of each kind, in parallel, each for at
// most restrictedProbeTimeout.
const (
	restrictedProbeTimeout = 2500 * time.Millisecond
	restrictedProbeTargets = 3
	// restrictedFirstCheck leaves the start's bootstrap time to fill the
	// peerstore with addresses to probe.
	restrictedFirstCheck = 2 * time.Second
	// restrictedRetry is the next check while there is no verdict yet.
	restrictedRetry = 5 * time.Second
	// restrictedRecheck is the next check once there is one: a restricted
	// node notices within this that UDP works again, and the other way.
	restrictedRecheck = 60 * time.Second
)

// probeKind is what a detection probe tries.
type probeKind int

const (
	probeTCP443   probeKind = iota // a TCP connection to port 443
	probeTCPOther                  // a TCP connection to another port
	probeUDP                       // a QUIC handshake (UDP)
)

func (k probeKind) String() string {
	switch k {
	case probeTCP443:
		return "TCP 443"
	case probeTCPOther:
		return "TCP (not 443)"
	}
	return "UDP (QUIC)"
}

// probeTarget is an address a probe dials, host:port.
type probeTarget struct {
	kind probeKind
	addr string
}

// probeResult is a probe's outcome: ok when the far end answered.
type probeResult struct {
	probeTarget
	ok  bool
	err error
}

// restrictedVerdict is what a round of probes proves.
type restrictedVerdict int

const (
	verdictUnknown    restrictedVerdict = iota // nothing proven either way
	verdictOpen                                // UDP or a TCP port other than 443 gets out
	verdictRestricted                          // only TCP 443 gets out
)

// judgeProbes proves restriction from probe results: restricted when TCP
// to 443 worked while every UDP and every TCP probe to another port failed,
// with at least one of each kind failing; open when any UDP or non-443 TCP
// probe worked; unknown otherwise. The reason says which.
func judgeProbes(rs []probeResult) (restrictedVerdict, string) {
	var ok443 string
	var failUDP, failTCP int
	for _, r := range rs {
		switch {
		case r.ok && r.kind != probeTCP443:
			return verdictOpen, fmt.Sprintf("%s to %s gets out", r.kind, r.addr)
		case r.ok:
			ok443 = r.addr
		case r.kind == probeUDP:
			failUDP++
		case r.kind == probeTCPOther:
			failTCP++
		}
	}
	if ok443 != "" && failUDP > 0 && failTCP > 0 {
		return verdictRestricted, fmt.Sprintf(
			"restricted network: only TCP 443 reaches out (TCP 443 to %s works; %d UDP and %d TCP probes to other ports failed); never relaying",
			ok443, failUDP, failTCP)
	}
	return verdictUnknown, fmt.Sprintf("not proven: TCP 443 works: %t, UDP probes failed: %d, other TCP probes failed: %d", ok443 != "", failUDP, failTCP)
}

// restrictedDetector proves, at start and then periodically, whether the
// node sits behind a firewall that lets out only TCP 443, as
// network.restricted = true declares. Its probes and targets are functions
// so that tests can give it a fake network.
type restrictedDetector struct {
	log *slog.Logger
	// known are results proven without probing (live connections).
	known   func() []probeResult
	targets func() []probeTarget
	probe   func(ctx context.Context, t probeTarget) error

	mu         sync.Mutex
	restricted bool
	reason     string
	checked    bool
}

// newHostDetector probes the addresses of the peers h knows and the
// directory's address, those beyond the firewall only: addresses that
// count as public under ranges (network.reachable_ranges, or globally
// routable), so that neighbours on the same LAN prove nothing.
func newHostDetector(h host.Host, directoryURL string, ranges addrRanges, log *slog.Logger) *restrictedDetector {
	return &restrictedDetector{
		log:     log,
		known:   func() []probeResult { return connResults(h, ranges) },
		targets: func() []probeTarget { return hostTargets(h, directoryURL, ranges) },
		probe:   dialProbe,
	}
}

// state is the latest verdict: restricted, and why.
func (d *restrictedDetector) state() (bool, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.restricted, d.reason
}

// run checks at start and then periodically until ctx ends.
func (d *restrictedDetector) run(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	wait := restrictedFirstCheck
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if d.check(ctx) == verdictUnknown {
			wait = restrictedRetry
		} else {
			wait = restrictedRecheck
		}
	}
}

// check runs one bounded round of probes and updates the state on a
// verdict (unknown keeps the previous one).
func (d *restrictedDetector) check(ctx context.Context) restrictedVerdict {
	results := d.known()
	if v, _ := judgeProbes(results); v != verdictOpen {
		results = append(results, d.probeAll(ctx)...)
	}
	if ctx.Err() != nil {
		return verdictUnknown
	}
	v, why := judgeProbes(results)
	if v == verdictUnknown {
		d.log.Debug("restricted network check", "verdict", "unknown", "why", why)
		return v
	}
	d.mu.Lock()
	changed := !d.checked || d.restricted != (v == verdictRestricted)
	d.restricted, d.checked = v == verdictRestricted, true
	d.reason = why
	d.mu.Unlock()
	if changed {
		d.log.Info("restricted network check", "restricted", v == verdictRestricted, "why", why)
	}
	return v
}

// probeAll dials up to restrictedProbeTargets targets of each kind at once.
func (d *restrictedDetector) probeAll(ctx context.Context) []probeResult {
	var picked []probeTarget
	count := map[probeKind]int{}
	seen := map[probeTarget]bool{}
	for _, t := range d.targets() {
		if seen[t] || count[t.kind] >= restrictedProbeTargets {
			continue
		}
		seen[t] = true
		count[t.kind]++
		picked = append(picked, t)
	}
	out := make([]probeResult, len(picked))
	var wg sync.WaitGroup
	for i, t := range picked {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, restrictedProbeTimeout)
			defer cancel()
			err := d.probe(pctx, t)
			out[i] = probeResult{probeTarget: t, ok: err == nil, err: err}
		}()
	}
	wg.Wait()
	return out
}

// connResults turns the host's live direct connections into proven
// results: a connection over UDP or TCP other than 443 proves the way
// open, one to TCP 443 proves 443 works. Loopback and relayed (circuit)
// connections prove nothing about the firewall.
func connResults(h host.Host, ranges addrRanges) []probeResult {
	var out []probeResult
	for _, c := range h.Network().Conns() {
		if c.Stat().Limited || !ranges.counts(c.RemoteMultiaddr()) {
			continue
		}
		if t, ok := targetOf(c.RemoteMultiaddr()); ok {
			out = append(out, probeResult{probeTarget: t, ok: true})
		}
	}
	return out
}

// hostTargets are the direct TCP and QUIC addresses of the peers h knows,
// and the directory's address, without h's own or loopback ones.
func hostTargets(h host.Host, directoryURL string, ranges addrRanges) []probeTarget {
	var out []probeTarget
	if u, err := url.Parse(directoryURL); err == nil && u.Hostname() != "" {
		port := u.Port()
		if port == "" {
			port = "443"
			if u.Scheme == "http" {
				port = "80"
			}
		}
		a, err := manet.FromNetAddr(&net.TCPAddr{IP: net.ParseIP(u.Hostname()), Port: atoi(port)})
		if err == nil && ranges.counts(a) {
			kind := probeTCPOther
			if port == "443" {
				kind = probeTCP443
			}
			out = append(out, probeTarget{kind: kind, addr: net.JoinHostPort(u.Hostname(), port)})
		}
	}
	for _, p := range h.Peerstore().PeersWithAddrs() {
		if p == h.ID() {
			continue
		}
		for _, a := range h.Peerstore().Addrs(p) {
			if !ranges.counts(a) {
				continue
			}
			if t, ok := targetOf(a); ok {
				out = append(out, t)
			}
		}
	}
	return out
}

// targetOf maps /ip/tcp/P and /ip/udp/P/quic-v1 to a probe target; other
// addresses (circuits, websockets, loopback, unspecified) give none.
func targetOf(a ma.Multiaddr) (probeTarget, bool) {
	var ip net.IP
	var port, proto string
	n := 0
	ok := true
	ma.ForEach(a, func(c ma.Component) bool {
		n++
		switch c.Protocol().Code {
		case ma.P_IP4, ma.P_IP6:
			ip = net.ParseIP(c.Value())
		case ma.P_TCP, ma.P_UDP:
			port, proto = c.Value(), c.Protocol().Name
		case ma.P_QUIC_V1:
			if proto != "udp" {
				ok = false
			}
			proto = "quic"
		case ma.P_P2P:
		default:
			ok = false
		}
		return ok
	})
	if !ok || ip == nil || ip.IsLoopback() || ip.IsUnspecified() || port == "" || proto == "udp" {
		return probeTarget{}, false
	}
	if _, err := strconv.Atoi(port); err != nil {
		return probeTarget{}, false
	}
	t := probeTarget{addr: net.JoinHostPort(ip.String(), port)}
	switch {
	case proto == "quic":
		t.kind = probeUDP
	case port == "443":
		t.kind = probeTCP443
	default:
		t.kind = probeTCPOther
	}
	return t, true
}

// dialProbe dials t: a TCP connection, or a QUIC handshake whose any answer
// from the far end (even a refusal of our certificate-less client) proves
// UDP gets through; a timeout proves nothing answered.
func dialProbe(ctx context.Context, t probeTarget) error {
	if t.kind != probeUDP {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", t.addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	tc := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"libp2p"}} // only asks whether anything answers
	c, err := quic.DialAddr(ctx, t.addr, tc, &quic.Config{HandshakeIdleTimeout: restrictedProbeTimeout})
	if err == nil {
		return c.CloseWithError(0, "probe")
	}
	var te *quic.TransportError
	var ae *quic.ApplicationError
	var ve *quic.VersionNegotiationError
	switch {
	case errors.As(err, &te) && te.Remote, errors.As(err, &ae) && ae.Remote, errors.As(err, &ve):
		return nil
	case errors.As(err, &te) && strings.Contains(strings.ToLower(te.Error()), "certificate"):
		return nil // the far end's TLS answered
	}
	return err
}

// atoi is strconv.Atoi without the error (0 for a bad port).
func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
