package call

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/media"
	"github.com/peercall/peercall/signalling"
)

// trickle is a call's trickle ICE over its signalling stream (types 11
// and 12, signalling/trickle.go). The SDP goes out with the candidates
// gathered within media.TrickleGatherWait; the ones ICE gathers later
// (server-reflexive, relay) are queued here from pion's OnICECandidate and
// sent as CANDIDATES once the peer is known to trickle (its SDP says
// a=ice-options:trickle and the stream is signalling.ProtocolTrickle), then
// END_OF_CANDIDATES. The peer's go to ICE once its description is set.
// A peer that does not trickle gets, and sends, full SDPs.
type trickle struct {
	pc    *webrtc.PeerConnection
	local chan string // gathered candidates; "" when gathering is complete

	once  sync.Once
	ready chan struct{} // closed by begin
	on    bool          // set before ready closes: both sides trickle
	sent  string        // the SDP that went out, whose candidates are not sent again
}

// newTrickle starts queueing sess's local candidates; call it before the
// offer or answer is made.
func newTrickle(sess *media.Session) *trickle {
	t := &trickle{pc: sess.PeerConnection(), local: make(chan string, signalling.MaxCallCandidates+1), ready: make(chan struct{})}
	t.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		line := ""
		if c != nil {
			line = c.ToJSON().Candidate
		}
		select {
		case t.local <- line:
		default: // past the peer's limit: it would refuse them anyway
		}
	})
	return t
}

// begin says that the peer's description is set and whether both sides
// trickle; sent is the SDP this side sent.
func (t *trickle) begin(on bool, sent string) {
	if t == nil {
		return
	}
	t.once.Do(func() {
		t.on, t.sent = on, sent
		close(t.ready)
	})
}

// trickled reports whether the call trickled its candidates.
func (t *trickle) trickled() bool {
	if t == nil {
		return false
	}
	select {
	case <-t.ready:
		return t.on
	default:
		return false
	}
}

// run exchanges the candidates of call sc until both sides sent
// END_OF_CANDIDATES, the call ends or ctx ends.
func (t *trickle) run(ctx context.Context, sc *signalling.Call, log *slog.Logger) {
	select {
	case <-t.ready:
	case <-ctx.Done():
		return
	}
	if !t.on {
		return
	}
	start := time.Now()
	local, remote := t.local, sc.Candidates()
	sentN, recvN := 0, 0
	for local != nil || remote != nil {
		select {
		case <-ctx.Done():
			return
		case rc, ok := <-remote:
			if !ok {
				return // the call ended
			}
			if rc.End {
				remote = nil
				log.Debug("peer's candidates complete", "call", sc.ID(), "received", recvN, "after", time.Since(start).Round(time.Millisecond))
				continue
			}
			for _, l := range rc.Lines {
				recvN++
				if err := t.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: l}); err != nil {
					log.Info("a trickled candidate of the peer is unusable; ignored", "call", sc.ID(), "candidate", l, "err", err)
				}
			}
		case line := <-local:
			batch, end := t.batch(line)
			if sentN+len(batch) > signalling.MaxCallCandidates {
				log.Warn("more local candidates than the peer takes; the rest are not sent", "call", sc.ID(), "limit", signalling.MaxCallCandidates)
				batch, end = batch[:signalling.MaxCallCandidates-sentN], true
			}
			var err error
			if len(batch) > 0 {
				err = sc.SendCandidates(ctx, batch)
				sentN += len(batch)
			}
			if err == nil && end {
				err = sc.EndOfCandidates(ctx)
			}
			if err != nil {
				log.Debug("trickle candidates", "call", sc.ID(), "err", err)
				end = true
			}
			if end {
				local = nil
				log.Debug("local candidates sent", "call", sc.ID(), "sent", sentN, "after", time.Since(start).Round(time.Millisecond))
			}
		}
	}
}

// batch collects line and the candidates queued behind it (up to
// signalling.MaxCandidates), minus those the SDP already held; end
// reports that gathering is complete.
func (t *trickle) batch(line string) (batch []string, end bool) {
	for {
		if line == "" {
			return batch, true
		}
		if !strings.Contains(t.sent, "a="+line+"\r\n") {
			batch = append(batch, line)
		}
		if len(batch) == signalling.MaxCandidates {
			return batch, false
		}
		select {
		case line = <-t.local:
		default:
			return batch, false
		}
	}
}

// fullOffer returns the offer with every candidate once gathering is
// complete: for a callee that does not trickle.
func fullOffer(sess *media.Session) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		pc := sess.PeerConnection()
		select {
		case <-webrtc.GatheringCompletePromise(pc):
			return pc.LocalDescription().SDP, nil
		case <-ctx.Done():
			return "", fmt.Errorf("gathering ICE candidates for a peer without trickle ICE: %w", ctx.Err())
		case <-sess.Done():
			return "", media.ErrClosed
		}
	}
}

// remoteTrickles reports whether both sides of sc trickle: its stream
// speaks trickle ICE and the peer's SDP (set on sess) says so.
func remoteTrickles(sc *signalling.Call, sess *media.Session) bool {
	return sc.Trickle() && sess.PeerConnection().CanTrickleICECandidates() == webrtc.ICETrickleCapabilitySupported
}
