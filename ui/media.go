package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/peercall/peercall/call"
)

// MediaNode is a node whose calls the interface can mute and hold (the
// live-call page's Mute and Hold buttons).
type MediaNode interface {
	SetCallMedia(ctx context.Context, id string, op call.MediaOp) (call.Info, error)
}

// media mutes, unmutes, holds or resumes a call: {"call_id", "action"}.
// It answers with the call as it is after the change; the peer's page
// learns it from its own event stream.
func (s *Server) media(w http.ResponseWriter, r *http.Request) {
	req, err := decode(r)
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	if req.Name != "" || req.Message != "" || req.Status != "" || req.Mood != nil || req.What != "" || req.Device != "" {
		fail(w, http.StatusBadRequest, errors.New("give only call_id and action"))
		return
	}
	op, err := call.ParseMediaOp(req.Action)
	if err != nil {
		fail(w, http.StatusBadRequest, fmt.Errorf("action: %w", err))
		return
	}
	if len(req.CallID) > 64 {
		fail(w, http.StatusBadRequest, errors.New("call_id too long"))
		return
	}
	mn, ok := s.n.(MediaNode)
	if !ok {
		fail(w, http.StatusNotImplemented, errors.New("this node cannot mute or hold calls"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	info, err := mn.SetCallMedia(ctx, req.CallID, op)
	switch {
	case errors.Is(err, call.ErrNoSuchCall), errors.Is(err, call.ErrNotActive):
		fail(w, http.StatusConflict, err)
	case err != nil:
		fail(w, http.StatusBadGateway, err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"call": info})
	}
}
