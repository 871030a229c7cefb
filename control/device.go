package control

import (
	"context"
	"errors"
	"fmt"
)

// OpDevice switches a live call's microphone (AudioIn) and/or speaker
// (AudioOut) to other devices; CallID names the call (empty: the only
// one).
const OpDevice = "device"

// DeviceNode is a node whose calls' devices can be switched.
type DeviceNode interface {
	SetDevice(ctx context.Context, id, in, out string) error
}

// validateDevice checks a device request: a spec for at least one side,
// an optional call_id, nothing else.
func (r Request) validateDevice() error {
	if r.Name != "" || r.DurationMs != 0 || r.ForceRelay || r.DSPOff != nil || r.Path != "" || r.TransferID != "" ||
		r.Action != "" || r.Message != "" || r.Status != "" || r.Mood != nil {
		return errors.New(`op "device" takes only call_id, audio_in and audio_out`)
	}
	if r.AudioIn == "" && r.AudioOut == "" {
		return errors.New(`op "device" needs audio_in or audio_out`)
	}
	for _, f := range []string{r.CallID, r.AudioIn, r.AudioOut} {
		if len(f) > 4096 {
			return errors.New("a field is longer than 4096 bytes")
		}
	}
	return nil
}

// serveDevice answers a device request.
func (s *Server) serveDevice(req Request, send func(Response), fail func(error)) {
	dn, ok := s.n.(DeviceNode)
	if !ok {
		fail(errors.New("this node cannot switch a call's devices"))
		return
	}
	if err := dn.SetDevice(s.ctx, req.CallID, req.AudioIn, req.AudioOut); err != nil {
		fail(fmt.Errorf("switch the call's device: %w", err))
		return
	}
	send(Response{Done: true})
}
