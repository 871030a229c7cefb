package reach

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

// ProbeKind is what a detection probe tries.
type ProbeKind int

const (
	ProbeTCP443   ProbeKind = iota // a TCP connection to port 443
	ProbeTCPOther                  // a TCP connection to another port
	ProbeUDP                       // a QUIC handshake (UDP)
)

func (k ProbeKind) String() string {
	switch k {
	case ProbeTCP443:
		return "TCP 443"
	case ProbeTCPOther:
		return "TCP (not 443)"
	}
	return "UDP (QUIC)"
}

// ProbeTarget is an address a probe dials, host:port.
type ProbeTarget struct {
	Kind ProbeKind
	Addr string
}

// ProbeResult is a probe's outcome: OK when the far end answered.
type ProbeResult struct {
	ProbeTarget
	OK  bool
	Err error
}

// Verdict is what a round of probes proves.
type Verdict int

// Verdicts of Judge.
const (
	VerdictUnknown    Verdict = iota // nothing proven either way
	VerdictOpen                      // UDP or a TCP port other than 443 gets out
	VerdictRestricted                // only TCP 443 gets out
)

// Judge proves restriction from probe results: restricted when TCP
// to 443 worked while every UDP and every TCP probe to another port failed,
// with at least one of each kind failing; open when any UDP or non-443 TCP
// probe worked; unknown otherwise. The reason says which.
func Judge(rs []ProbeResult) (Verdict, string) {
	var ok443 string
	var failUDP, failTCP int
	for _, r := range rs {
		switch {
		case r.OK && r.Kind != ProbeTCP443:
			return VerdictOpen, fmt.Sprintf("%s to %s gets out", r.Kind, r.Addr)
		case r.OK:
			ok443 = r.Addr
		case r.Kind == ProbeUDP:
			failUDP++
		case r.Kind == ProbeTCPOther:
			failTCP++
		}
	}
	if ok443 != "" && failUDP > 0 && failTCP > 0 {
		return VerdictRestricted, fmt.Sprintf(
			"restricted network: only TCP 443 reaches out (TCP 443 to %s works; %d UDP and %d TCP probes to other ports failed); never relaying",
			ok443, failUDP, failTCP)
	}
	return VerdictUnknown, fmt.Sprintf("not proven: TCP 443 works: %t, UDP probes failed: %d, other TCP probes failed: %d", ok443 != "", failUDP, failTCP)
}

// Detector proves, at start and then periodically, whether the
// node sits behind a firewall that lets out only TCP 443, as
// network.restricted = true declares. Its probes and targets are functions
// so that tests can give it a fake network.
type Detector struct {
	Log *slog.Logger
	// Known are results proven without probing (live connections).
	Known func() []ProbeResult
	// Targets are the addresses worth probing.
	Targets func() []ProbeTarget
	// Probe dials one target (DialProbe).
	Probe func(ctx context.Context, t ProbeTarget) error

	mu         sync.Mutex
	restricted bool
	reason     string
	checked    bool
}

// NewHostDetector probes the addresses of the peers h knows and the
// directory's address, those beyond the firewall only: addresses that
// count as public under ranges (network.reachable_ranges, or globally
// routable), so that neighbours on the same LAN prove nothing.
func NewHostDetector(h host.Host, directoryURL string, ranges Ranges, log *slog.Logger) *Detector {
	return &Detector{
		Log:     log,
		Known:   func() []ProbeResult { return connResults(h, ranges) },
		Targets: func() []ProbeTarget { return hostTargets(h, directoryURL, ranges) },
		Probe:   DialProbe,
	}
}

// State is the latest verdict: restricted, and why.
func (d *Detector) State() (bool, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.restricted, d.reason
}

// Run checks at start and then periodically until ctx ends; the caller
// owns the goroutine it runs in.
func (d *Detector) Run(ctx context.Context) {
	wait := restrictedFirstCheck
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if d.Check(ctx) == VerdictUnknown {
			wait = restrictedRetry
		} else {
			wait = restrictedRecheck
		}
	}
}

// Check runs one bounded round of probes and updates the state on a
// verdict (unknown keeps the previous one).
func (d *Detector) Check(ctx context.Context) Verdict {
	results := d.Known()
	if v, _ := Judge(results); v != VerdictOpen {
		results = append(results, d.probeAll(ctx)...)
	}
	if ctx.Err() != nil {
		return VerdictUnknown
	}
	v, why := Judge(results)
	if v == VerdictUnknown {
		d.Log.Debug("restricted network check", "verdict", "unknown", "why", why)
		return v
	}
	d.mu.Lock()
	changed := !d.checked || d.restricted != (v == VerdictRestricted)
	d.restricted, d.checked = v == VerdictRestricted, true
	d.reason = why
	d.mu.Unlock()
	if changed {
		d.Log.Info("restricted network check", "restricted", v == VerdictRestricted, "why", why)
	}
	return v
}

// probeAll dials up to restrictedProbeTargets targets of each kind at once.
func (d *Detector) probeAll(ctx context.Context) []ProbeResult {
	var picked []ProbeTarget
	count := map[ProbeKind]int{}
	seen := map[ProbeTarget]bool{}
	for _, t := range d.Targets() {
		if seen[t] || count[t.Kind] >= restrictedProbeTargets {
			continue
		}
		seen[t] = true
		count[t.Kind]++
		picked = append(picked, t)
	}
	out := make([]ProbeResult, len(picked))
	var wg sync.WaitGroup
	for i, t := range picked {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, restrictedProbeTimeout)
			defer cancel()
			err := d.Probe(pctx, t)
			out[i] = ProbeResult{ProbeTarget: t, OK: err == nil, Err: err}
		}()
	}
	wg.Wait()
	return out
}

// connResults turns the host's live direct connections into proven
// results: a connection over UDP or TCP other than 443 proves the way
// open, one to TCP 443 proves 443 works. Loopback and relayed (circuit)
// connections prove nothing about the firewall.
func connResults(h host.Host, ranges Ranges) []ProbeResult {
	var out []ProbeResult
	for _, c := range h.Network().Conns() {
		if c.Stat().Limited || !ranges.Counts(c.RemoteMultiaddr()) {
			continue
		}
		if t, ok := targetOf(c.RemoteMultiaddr()); ok {
			out = append(out, ProbeResult{ProbeTarget: t, OK: true})
		}
	}
	return out
}

// hostTargets are the direct TCP and QUIC addresses of the peers h knows,
// and the directory's address, without h's own or loopback ones.
func hostTargets(h host.Host, directoryURL string, ranges Ranges) []ProbeTarget {
	var out []ProbeTarget
	if u, err := url.Parse(directoryURL); err == nil && u.Hostname() != "" {
		port := u.Port()
		if port == "" {
			port = "443"
			if u.Scheme == "http" {
				port = "80"
			}
		}
		a, err := manet.FromNetAddr(&net.TCPAddr{IP: net.ParseIP(u.Hostname()), Port: atoi(port)})
		if err == nil && ranges.Counts(a) {
			kind := ProbeTCPOther
			if port == "443" {
				kind = ProbeTCP443
			}
			out = append(out, ProbeTarget{Kind: kind, Addr: net.JoinHostPort(u.Hostname(), port)})
		}
	}
	for _, p := range h.Peerstore().PeersWithAddrs() {
		if p == h.ID() {
			continue
		}
		for _, a := range h.Peerstore().Addrs(p) {
			if !ranges.Counts(a) {
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
func targetOf(a ma.Multiaddr) (ProbeTarget, bool) {
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
		return ProbeTarget{}, false
	}
	if _, err := strconv.Atoi(port); err != nil {
		return ProbeTarget{}, false
	}
	t := ProbeTarget{Addr: net.JoinHostPort(ip.String(), port)}
	switch {
	case proto == "quic":
		t.Kind = ProbeUDP
	case port == "443":
		t.Kind = ProbeTCP443
	default:
		t.Kind = ProbeTCPOther
	}
	return t, true
}

// DialProbe dials t: a TCP connection, or a QUIC handshake whose any answer
// from the far end (even a refusal of our certificate-less client) proves
// UDP gets through; a timeout proves nothing answered.
func DialProbe(ctx context.Context, t ProbeTarget) error {
	if t.Kind != ProbeUDP {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", t.Addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	tc := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"libp2p"}} // only asks whether anything answers
	c, err := quic.DialAddr(ctx, t.Addr, tc, &quic.Config{HandshakeIdleTimeout: restrictedProbeTimeout})
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
