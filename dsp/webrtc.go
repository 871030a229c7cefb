//go:build cgo

package dsp

// #cgo pkg-config: webrtc-audio-processing
// #cgo CXXFLAGS: -std=c++11
// #cgo LDFLAGS: -lstdc++
// #include "webrtc_apm.h"
import "C"

import (
	"errors"
	"unsafe"
)

// The WebRTC audio-processing module (Debian bookworm's 0.3: the AEC with
// its extended filter and delay-agnostic mode, noise suppression, adaptive
// digital gain control) through a small C shim (webrtc_apm.cc).
func init() { engines["webrtc"] = newWebRTC }

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

type webrtcEngine struct {
	a *C.pc_apm
}

func newWebRTC(c Config) (engine, error) {
	a := C.pc_apm_new(cbool(c.EchoCancel), cbool(c.NoiseSuppress), cbool(c.AutoGain))
	if a == nil {
		return nil, errors.New("webrtc audio processing: could not create the module")
	}
	return &webrtcEngine{a: a}, nil
}

func (e *webrtcEngine) process(mic, ref []int16, delayMs int) {
	var r *C.int16_t
	if ref != nil {
		r = (*C.int16_t)(unsafe.Pointer(&ref[0]))
	}
	C.pc_apm_process_n(e.a, (*C.int16_t)(unsafe.Pointer(&mic[0])), r, C.int(len(mic)/subframe), C.int(delayMs))
}

func (e *webrtcEngine) delayAware() bool { return true }

func (e *webrtcEngine) reset() { C.pc_apm_reset(e.a) }

func (e *webrtcEngine) close() {
	if e.a != nil {
		C.pc_apm_free(e.a)
		e.a = nil
	}
}
