package control

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/peercall/peercall/call"
)

// Mute and hold operations: Request.CallID names the call ("" for the only
// one); the final line carries the call as it is after the change.
const (
	OpMute   = "mute"
	OpUnmute = "unmute"
	OpHold   = "hold"
	OpResume = "resume"
)

// CodeNotActive is the error code of a mute or hold on a call that is not
// connected (call.ErrNotActive).
const CodeNotActive = "not_active"

// MediaNode is a node whose calls can be muted and held.
type MediaNode interface {
	SetCallMedia(ctx context.Context, id string, op call.MediaOp) (call.Info, error)
}

// mediaTimeout bounds a mute or hold request (the MEDIA_STATE write).
const mediaTimeout = 10 * time.Second

func isMediaOp(op string) bool {
	return op == OpMute || op == OpUnmute || op == OpHold || op == OpResume
}

// validateMedia checks a mute or hold request; ok says it was one: only
// call_id, empty or a call id (32 lower-case hex digits).
func (r Request) validateMedia() (ok bool, err error) {
	if !isMediaOp(r.Op) {
		return false, nil
	}
	others := r.Name != "" || r.DurationMs != 0 || r.AudioIn != "" || r.AudioOut != "" || r.ForceRelay || r.DSPOff != nil ||
		r.Path != "" || r.TransferID != "" || r.Action != "" || r.Message != "" || r.Status != "" || r.Mood != nil
	if others {
		return true, fmt.Errorf("op %q takes only call_id", r.Op)
	}
	if r.CallID != "" && !IsCallID(r.CallID) {
		return true, fmt.Errorf("call_id %.40q is not a call id (32 lower-case hex digits, as `peercall status` shows)", r.CallID)
	}
	return true, nil
}

// IsCallID reports whether s is written as a call id: 32 lower-case hex
// digits.
func IsCallID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// serveMedia answers a mute or hold request.
func (s *Server) serveMedia(req Request, send func(Response), fail func(error)) {
	mn, ok := s.n.(MediaNode)
	if !ok {
		fail(errors.New("this node cannot mute or hold calls"))
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, mediaTimeout)
	defer cancel()
	ci, err := mn.SetCallMedia(ctx, req.CallID, call.MediaOp(req.Op))
	if err != nil {
		resp := Response{Done: true, Error: ErrorCode(err), Message: err.Error()}
		if ci.CallID != "" {
			resp.Call = &ci
		}
		send(resp)
		return
	}
	send(Response{Done: true, Call: &ci})
}

func mediaCode(err error) string {
	if errors.Is(err, call.ErrNotActive) {
		return CodeNotActive
	}
	return ""
}

func mediaError(code string) error {
	if code == CodeNotActive {
		return call.ErrNotActive
	}
	return nil
}
