package signalling

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/protocol"
)

// Trickle ICE (types 11 and 12) rides streams negotiated as
// ProtocolTrickle only. Either side of an active call sends CANDIDATES, the
// ICE candidates its agent gathered after its SDP went out, and one
// END_OF_CANDIDATES when gathering is over; the owner hands the peer's to
// its ICE agent (Call.Candidates). Whether to trickle at all is the
// owner's choice, from the peer's SDP (a=ice-options:trickle) and
// Call.Trickle.

// RemoteCandidates is what the peer trickled: candidate lines, or End.
type RemoteCandidates struct {
	Lines []string
	End   bool // END_OF_CANDIDATES: no more follow
}

// streamProtocol is implemented by libp2p streams.
type streamProtocol interface{ Protocol() protocol.ID }

// tricklesOn reports whether stream rw was negotiated as ProtocolTrickle.
func tricklesOn(rw any) bool {
	s, ok := rw.(streamProtocol)
	return ok && s.Protocol() == ProtocolTrickle
}

// Trickle reports whether the call's stream speaks trickle ICE
// (ProtocolTrickle): SendCandidates works once the call is active.
func (c *Call) Trickle() bool { return c.trickle }

// Candidates delivers the peer's trickled candidates, in order; it never
// holds more than MaxCallCandidates+1 entries, so the call never waits for
// its reader, and is closed when the call ends.
func (c *Call) Candidates() <-chan RemoteCandidates { return c.remoteCands }

// SendCandidates sends local ICE candidate lines (at most MaxCandidates
// per message) on an active trickle call.
func (c *Call) SendCandidates(ctx context.Context, lines []string) error {
	return c.do(ctx, command{kind: cmdCandidates, candidates: lines})
}

// EndOfCandidates tells the peer that no more candidates follow.
func (c *Call) EndOfCandidates(ctx context.Context) error {
	return c.do(ctx, command{kind: cmdEndOfCandidates})
}

// sendCandidates handles cmdCandidates and cmdEndOfCandidates (loop only).
func (c *Call) sendCandidates(s State, cmd command) error {
	if s != StateActive || !c.trickle || c.localEOC {
		return fmt.Errorf("%w: candidates on a call that is %v (trickle %v, ended %v)", ErrInvalidState, s, c.trickle, c.localEOC)
	}
	m := Message{Type: TypeCandidates, Candidates: cmd.candidates}
	if cmd.kind == cmdEndOfCandidates {
		m = Message{Type: TypeEndOfCandidates}
		c.localEOC = true
	}
	if err := c.send(m); err != nil {
		return c.sendFailed(err)
	}
	return nil
}

// receiveCandidates handles a received CANDIDATES or END_OF_CANDIDATES
// (loop only): on an active trickle call, before END_OF_CANDIDATES and
// within MaxCallCandidates; anything else is a protocol error.
func (c *Call) receiveCandidates(s State, m Message) {
	switch {
	case s != StateActive || !c.trickle:
		c.protocolError(s, fmt.Sprintf("%v on a call that is %v (trickle %v)", m.Type, s, c.trickle))
	case c.remoteEOC:
		c.protocolError(s, fmt.Sprintf("%v after END_OF_CANDIDATES", m.Type))
	case m.Type == TypeEndOfCandidates:
		c.remoteEOC = true
		c.remoteCands <- RemoteCandidates{End: true}
	case c.remoteCount+len(m.Candidates) > MaxCallCandidates:
		c.protocolError(s, fmt.Sprintf("more than %d trickled candidates", MaxCallCandidates))
	default:
		c.remoteCount += len(m.Candidates)
		c.remoteCands <- RemoteCandidates{Lines: m.Candidates}
	}
}
