//go:build cgo && speexdsp

package dsp

/*
#cgo pkg-config: speexdsp
#include <stdlib.h>
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

typedef struct {
	SpeexEchoState *echo;
	SpeexPreprocessState *pre;
	spx_int16_t out[480];
	int usePre;
} pc_speex;

static pc_speex *pc_speex_new(int frame, int tail, int rate, int aec, int ns, int agc) {
	pc_speex *s = calloc(1, sizeof(pc_speex));
	if (!s) return NULL;
	if (aec) {
		s->echo = speex_echo_state_init(frame, tail);
		speex_echo_ctl(s->echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
	}
	if (aec || ns || agc) {
		s->pre = speex_preprocess_state_init(frame, rate);
		int on = 1, off = 0;
		speex_preprocess_ctl(s->pre, SPEEX_PREPROCESS_SET_DENOISE, ns ? &on : &off);
		int noise = -25;
		speex_preprocess_ctl(s->pre, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, &noise);
		speex_preprocess_ctl(s->pre, SPEEX_PREPROCESS_SET_AGC, agc ? &on : &off);
		if (agc) {
			float level = 8000;
			speex_preprocess_ctl(s->pre, SPEEX_PREPROCESS_SET_AGC_LEVEL, &level);
			int maxGain = 20;
			speex_preprocess_ctl(s->pre, SPEEX_PREPROCESS_SET_AGC_MAX_GAIN, &maxGain);
		}
		speex_preprocess_ctl(s->pre, SPEEX_PREPROCESS_SET_DEREVERB, &off);
		if (aec) {
			speex_preprocess_ctl(s->pre, SPEEX_PREPROCESS_SET_ECHO_STATE, s->echo);
			int sup = -40, act = -15;
			speex_preprocess_ctl(s->pre, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS, &sup);
			speex_preprocess_ctl(s->pre, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, &act);
		}
	}
	return s;
}

static void pc_speex_process(pc_speex *s, spx_int16_t *mic, const spx_int16_t *ref, int n) {
	if (s->echo && ref) {
		speex_echo_cancellation(s->echo, mic, ref, s->out);
		for (int i = 0; i < n; i++) mic[i] = s->out[i];
	}
	if (s->pre) speex_preprocess_run(s->pre, mic);
}

static void pc_speex_reset(pc_speex *s) {
	if (s->echo) speex_echo_state_reset(s->echo);
}

static void pc_speex_free(pc_speex *s) {
	if (s->pre) speex_preprocess_state_destroy(s->pre);
	if (s->echo) speex_echo_state_destroy(s->echo);
	free(s);
}
*/
import "C"

import (
	"errors"
	"unsafe"

	"github.com/peercall/peercall/audio"
)

func init() { engines["speex"] = newSpeex }

// speexEngine (built only with -tags speexdsp, to compare it with the
// WebRTC module on the same data) is speexdsp's MDF echo canceller followed by its
// preprocessor (noise suppression, AGC, and residual echo suppression
// driven by the canceller's state).
type speexEngine struct {
	s *C.pc_speex
}

func newSpeex(c Config) (engine, error) {
	tail := audio.SamplesPer(Tail)
	s := C.pc_speex_new(C.int(subframe), C.int(tail), C.int(audio.SampleRate), cbool(c.EchoCancel), cbool(c.NoiseSuppress), cbool(c.AutoGain))
	if s == nil {
		return nil, errors.New("speexdsp: out of memory creating the echo canceller")
	}
	return &speexEngine{s: s}, nil
}

func (e *speexEngine) process(mic, ref []int16, _ int) {
	for off := 0; off < len(mic); off += subframe {
		var r *C.spx_int16_t
		if ref != nil {
			r = (*C.spx_int16_t)(unsafe.Pointer(&ref[off]))
		}
		C.pc_speex_process(e.s, (*C.spx_int16_t)(unsafe.Pointer(&mic[off])), r, C.int(subframe))
	}
}

func (e *speexEngine) delayAware() bool { return false }

func (e *speexEngine) reset() { C.pc_speex_reset(e.s) }

func (e *speexEngine) close() {
	if e.s != nil {
		C.pc_speex_free(e.s)
		e.s = nil
	}
}
