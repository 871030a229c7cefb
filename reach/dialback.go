package reach

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/internal/brief"
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

// CandidateAddrs are the host's addresses a dial-back may prove: TCP
// addresses that count under rs (at most maxDialbackAddrs).
func CandidateAddrs(h host.Host, rs Ranges) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range h.Addrs() {
		if isTCPAddr(a) && rs.Counts(a) && len(out) < maxDialbackAddrs {
			out = append(out, a)
		}
	}
	return out
}

// Service answers /peercall/dialback/1 for other nodes: it dials the
// asker's addresses from a separate libp2p host with no listeners (so the
// connection is fresh and the asker's own connections cannot answer for it),
// completes the Noise handshake with the asker's peer ID, and hangs up. Only
// addresses on the IP the request came from are dialled, so a node cannot be
// used to make others dial a third party.
type Service struct {
	h    host.Host
	log  *slog.Logger
	sem  chan struct{}
	mu   sync.Mutex
	dial host.Host // created at the first request
	done bool
}

func NewService(h host.Host, log *slog.Logger) *Service {
	s := &Service{h: h, log: log, sem: make(chan struct{}, dialbackConcurrency)}
	h.SetStreamHandler(ProtocolID, s.handle)
	return s
}

// Close removes the handler and closes the dialer host.
func (s *Service) Close() error {
	s.h.RemoveStreamHandler(ProtocolID)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	if s.dial != nil {
		return s.dial.Close()
	}
	return nil
}

// dialer returns the separate dialling host, creating it on first use.
func (s *Service) dialer() (host.Host, error) {
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

func (s *Service) handle(st network.Stream) {
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

func (s *Service) serve(st network.Stream) dialbackResponse {
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
	if IsCircuit(remote) {
		resp.Code, resp.Message = dialbackRefused, "asked over a relayed connection: ask a direct peer"
		return resp
	}
	from, ok := IPOf(remote)
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
		ip, ok := IPOf(a)
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

// Result is the outcome of one reachability check (Prove).
type Result struct {
	Reachable bool
	Addr      ma.Multiaddr // the proven address
	By        peer.ID      // who proved it
	Reason    string
}

// Prove asks up to dialbackPeers connected peers, in random
// order, to dial one of addrs back; the first success proves reachability.
func Prove(ctx context.Context, h host.Host, addrs []ma.Multiaddr) Result {
	if len(addrs) == 0 {
		return Result{Reason: "no listen address counts as public (add its range to network.reachable_ranges)"}
	}
	peers := h.Network().Peers()
	shuffle(peers)
	var tried []string
	for _, p := range peers {
		if len(tried) == dialbackPeers || ctx.Err() != nil {
			break
		}
		if known, _ := h.Peerstore().GetProtocols(p); len(known) > 0 {
			if ok, _ := h.Peerstore().SupportsProtocols(p, ProtocolID); len(ok) == 0 {
				continue // identified, without dial-back support
			}
		}
		res, err := askDialback(ctx, h, p, addrs)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", brief.ID(p), err))
			continue
		}
		return res
	}
	if len(tried) == 0 {
		return Result{Reason: "no connected peer to dial back yet"}
	}
	return Result{Reason: "no dial-back succeeded (" + brief.List(tried, 3) + ")"}
}

// askDialback runs one request to p.
func askDialback(ctx context.Context, h host.Host, p peer.ID, addrs []ma.Multiaddr) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, dialbackStreamTimeout)
	defer cancel()
	st, err := h.NewStream(network.WithNoDial(ctx, "dial-back over an existing connection"), p, ProtocolID)
	if err != nil {
		return Result{}, err
	}
	defer st.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	q := dialbackRequest{Addrs: addrs}
	_, _ = rand.Read(q.Nonce[:])
	body, err := q.marshal()
	if err != nil {
		return Result{}, err
	}
	if err := writeDialbackFrame(st, body); err != nil {
		return Result{}, err
	}
	body, err = readDialbackFrame(st)
	if err != nil {
		return Result{}, err
	}
	resp, err := unmarshalDialbackResponse(body)
	if err != nil {
		return Result{}, err
	}
	if resp.Nonce != q.Nonce {
		return Result{}, fmt.Errorf("%w: the answer is for another request (nonce)", ErrMalformed)
	}
	switch resp.Code {
	case dialbackOK:
		if resp.Index >= len(addrs) {
			return Result{}, fmt.Errorf("%w: answer names address %d of %d", ErrMalformed, resp.Index, len(addrs))
		}
		return Result{Reachable: true, Addr: addrs[resp.Index], By: p,
			Reason: fmt.Sprintf("%s dialled %s back on a fresh connection", brief.ID(p), addrs[resp.Index])}, nil
	case dialbackFailed:
		// A definite answer: the address did not answer a fresh dial.
		return Result{By: p, Reason: fmt.Sprintf("%s could not dial back: %s", brief.ID(p), resp.Message)}, nil
	}
	return Result{}, fmt.Errorf("dial-back refused (code %d): %s", resp.Code, resp.Message)
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
