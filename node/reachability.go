package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Dial-back timings.
const (
	// dialbackStreamTimeout bounds one request on the asker's side.
	dialbackStreamTimeout = 15 * time.Second
	// dialbackDialTimeout bounds the dial back to one address.
	dialbackDialTimeout = 5 * time.Second
	// dialbackConcurrency bounds the dial-backs a node runs for others at
	// once; more are answered "busy".
	dialbackConcurrency = 2
	// dialbackPeers is how many peers one reachability check asks.
	dialbackPeers = 3
	// dialbackTries is how many of a request's addresses are dialled at
	// most (each up to dialbackDialTimeout, within the stream's deadline).
	dialbackTries = 2
)

// Reachability is what a node knows about being reachable from others.
type Reachability string

// Reachability verdicts, spelt as in `status --json`.
const (
	ReachabilityUnknown Reachability = "unknown"
	ReachabilityPublic  Reachability = "public"
	ReachabilityPrivate Reachability = "private"
	// ReachabilityRestricted: only TCP 443 gets out (network.restricted,
	// or proven by probes); the node relays for nobody.
	ReachabilityRestricted Reachability = "restricted"
)

// addrRanges decides which addresses count as publicly reachable: public
// ones (libp2p's manet.IsPublicAddr) plus network.reachable_ranges, under
// which a campus network or the lab (10/8, 100.64/10, 198.18/15, even
// 127/8 on loopback) counts too.
type addrRanges []netip.Prefix

// parseRanges parses network.reachable_ranges (validated by Config).
func parseRanges(ranges []string) (addrRanges, error) {
	out := make(addrRanges, 0, len(ranges))
	for _, r := range ranges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, fmt.Errorf("network.reachable_ranges: %q is not a CIDR range such as \"10.0.0.0/8\": %w", r, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// ipOf returns the IP of an /ip4 or /ip6 multiaddr.
func ipOf(a ma.Multiaddr) (netip.Addr, bool) {
	ip, err := manet.ToIP(a)
	if err != nil {
		return netip.Addr{}, false
	}
	addr, ok := netip.AddrFromSlice(ip)
	return addr.Unmap(), ok
}

// counts reports whether a counts as publicly reachable.
func (rs addrRanges) counts(a ma.Multiaddr) bool {
	if isCircuit(a) {
		return false
	}
	if ip, ok := ipOf(a); ok {
		for _, p := range rs {
			if p.Contains(ip) {
				return true
			}
		}
	}
	return manet.IsPublicAddr(a)
}

func isCircuit(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// isTCPAddr reports whether a is /ip4|ip6/…/tcp/PORT and nothing more.
func isTCPAddr(a ma.Multiaddr) bool {
	ps := a.Protocols()
	return len(ps) == 2 && (ps[0].Code == ma.P_IP4 || ps[0].Code == ma.P_IP6) && ps[1].Code == ma.P_TCP
}

// candidateAddrs are the host's addresses a dial-back may prove: TCP
// addresses that count under rs (at most maxDialbackAddrs).
func candidateAddrs(h host.Host, rs addrRanges) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range h.Addrs() {
		if isTCPAddr(a) && rs.counts(a) && len(out) < maxDialbackAddrs {
			out = append(out, a)
		}
	}
	return out
}

// dialbackService answers /peercall/dialback/1 for other nodes: it dials the
// asker's addresses from a separate libp2p host with no listeners (so the
// connection is fresh and the asker's own connections cannot answer for it),
// completes the Noise handshake with the asker's peer ID, and hangs up. Only
// addresses on the IP the request came from are dialled, so a node cannot be
// used to make others dial a third party.
type dialbackService struct {
	h    host.Host
	log  *slog.Logger
	sem  chan struct{}
	mu   sync.Mutex
	dial host.Host // created at the first request
	done bool
}

func newDialbackService(h host.Host, log *slog.Logger) *dialbackService {
	s := &dialbackService{h: h, log: log, sem: make(chan struct{}, dialbackConcurrency)}
	h.SetStreamHandler(DialbackProtocolID, s.handle)
	return s
}

// close removes the handler and closes the dialer host.
func (s *dialbackService) close() error {
	s.h.RemoveStreamHandler(DialbackProtocolID)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	if s.dial != nil {
		return s.dial.Close()
	}
	return nil
}

// dialer returns the separate dialling host, creating it on first use.
func (s *dialbackService) dialer() (host.Host, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, errors.New("dial-back service closed")
	}
	if s.dial == nil {
		d, err := libp2p.New(
			libp2p.NoListenAddrs,
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.Security(noise.ID, noise.New),
			libp2p.DisableRelay(),
			libp2p.DisableMetrics(),
			libp2p.Ping(false),
		)
		if err != nil {
			return nil, fmt.Errorf("start the dial-back dialer: %w", err)
		}
		s.dial = d
	}
	return s.dial, nil
}

func (s *dialbackService) handle(st network.Stream) {
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(dialbackStreamTimeout))
	resp := s.serve(st)
	b, err := resp.marshal()
	if err == nil {
		err = writeDialbackFrame(st, b)
	}
	if err != nil {
		s.log.Debug("dial-back answer not sent", "peer", st.Conn().RemotePeer(), "err", err)
	}
}

func (s *dialbackService) serve(st network.Stream) dialbackResponse {
	body, err := readDialbackFrame(st)
	if err != nil {
		return dialbackResponse{Code: dialbackBadInput, Index: dialbackNone, Message: err.Error()}
	}
	q, err := unmarshalDialbackRequest(body)
	if err != nil {
		return dialbackResponse{Code: dialbackBadInput, Index: dialbackNone, Message: err.Error()}
	}
	resp := dialbackResponse{Nonce: q.Nonce, Index: dialbackNone}
	remote := st.Conn().RemoteMultiaddr()
	if isCircuit(remote) {
		resp.Code, resp.Message = dialbackRefused, "asked over a relayed connection: ask a direct peer"
		return resp
	}
	from, ok := ipOf(remote)
	if !ok {
		resp.Code, resp.Message = dialbackRefused, "the request's source address has no IP"
		return resp
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		resp.Code, resp.Message = dialbackBusy, "busy dialling back for others: ask again later"
		return resp
	}
	d, err := s.dialer()
	if err != nil {
		resp.Code, resp.Message = dialbackFailed, err.Error()
		return resp
	}
	asker := st.Conn().RemotePeer()
	eligible := 0
	for i, a := range q.Addrs {
		ip, ok := ipOf(a)
		if !isTCPAddr(a) || !ok || ip != from {
			continue
		}
		if eligible == dialbackTries {
			break
		}
		eligible++
		ctx, cancel := context.WithTimeout(context.Background(), dialbackDialTimeout)
		err := d.Connect(network.WithForceDirectDial(ctx, "dial-back"), peer.AddrInfo{ID: asker, Addrs: []ma.Multiaddr{a}})
		cancel()
		_ = d.Network().ClosePeer(asker)
		d.Peerstore().ClearAddrs(asker)
		if err == nil {
			resp.Code, resp.Index = dialbackOK, i
			return resp
		}
		s.log.Debug("dial-back failed", "peer", asker, "addr", a, "err", err)
	}
	if eligible == 0 {
		resp.Code, resp.Message = dialbackRefused, fmt.Sprintf("no TCP address on %s, the address the request came from", from)
		return resp
	}
	resp.Code, resp.Message = dialbackFailed, "no address answered a fresh connection"
	return resp
}

// dialbackResult is the outcome of one reachability check.
type dialbackResult struct {
	Reachable bool
	Addr      ma.Multiaddr // the proven address
	By        peer.ID      // who proved it
	Reason    string
}

// proveReachable asks up to dialbackPeers connected peers, in random
// order, to dial one of addrs back; the first success proves reachability.
func proveReachable(ctx context.Context, h host.Host, addrs []ma.Multiaddr) dialbackResult {
	if len(addrs) == 0 {
		return dialbackResult{Reason: "no listen address counts as public (add its range to network.reachable_ranges)"}
	}
	peers := h.Network().Peers()
	shuffle(peers)
	var tried []string
	for _, p := range peers {
		if len(tried) == dialbackPeers || ctx.Err() != nil {
			break
		}
		if known, _ := h.Peerstore().GetProtocols(p); len(known) > 0 {
			if ok, _ := h.Peerstore().SupportsProtocols(p, DialbackProtocolID); len(ok) == 0 {
				continue // identified, without dial-back support
			}
		}
		res, err := askDialback(ctx, h, p, addrs)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", shortID(p), err))
			continue
		}
		return res
	}
	if len(tried) == 0 {
		return dialbackResult{Reason: "no connected peer to dial back yet"}
	}
	return dialbackResult{Reason: "no dial-back succeeded (" + joinMax(tried, 3) + ")"}
}

// askDialback runs one request to p.
func askDialback(ctx context.Context, h host.Host, p peer.ID, addrs []ma.Multiaddr) (dialbackResult, error) {
	ctx, cancel := context.WithTimeout(ctx, dialbackStreamTimeout)
	defer cancel()
	st, err := h.NewStream(network.WithNoDial(ctx, "dial-back over an existing connection"), p, DialbackProtocolID)
	if err != nil {
		return dialbackResult{}, err
	}
	defer st.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	q := dialbackRequest{Addrs: addrs}
	_, _ = rand.Read(q.Nonce[:])
	body, err := q.marshal()
	if err != nil {
		return dialbackResult{}, err
	}
	if err := writeDialbackFrame(st, body); err != nil {
		return dialbackResult{}, err
	}
	body, err = readDialbackFrame(st)
	if err != nil {
		return dialbackResult{}, err
	}
	resp, err := unmarshalDialbackResponse(body)
	if err != nil {
		return dialbackResult{}, err
	}
	if resp.Nonce != q.Nonce {
		return dialbackResult{}, fmt.Errorf("%w: the answer is for another request (nonce)", ErrDialbackMalformed)
	}
	switch resp.Code {
	case dialbackOK:
		if resp.Index >= len(addrs) {
			return dialbackResult{}, fmt.Errorf("%w: answer names address %d of %d", ErrDialbackMalformed, resp.Index, len(addrs))
		}
		return dialbackResult{Reachable: true, Addr: addrs[resp.Index], By: p,
			Reason: fmt.Sprintf("%s dialled %s back on a fresh connection", shortID(p), addrs[resp.Index])}, nil
	case dialbackFailed:
		// A definite answer: the address did not answer a fresh dial.
		return dialbackResult{By: p, Reason: fmt.Sprintf("%s could not dial back: %s", shortID(p), resp.Message)}, nil
	}
	return dialbackResult{}, fmt.Errorf("dial-back refused (code %d): %s", resp.Code, resp.Message)
}

func shortID(p peer.ID) string {
	s := p.String()
	if len(s) > 10 {
		return "…" + s[len(s)-8:]
	}
	return s
}

func joinMax(s []string, n int) string {
	out := ""
	for i, x := range s {
		if i == n {
			out += fmt.Sprintf("; and %d more", len(s)-n)
			break
		}
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}

// shuffle permutes ps with crypto/rand (no shared math/rand state).
func shuffle[T any](ps []T) {
	for i := len(ps) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return
		}
		ps[i], ps[j.Int64()] = ps[j.Int64()], ps[i]
	}
}
