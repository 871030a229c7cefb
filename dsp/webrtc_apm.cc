//go:build cgo

#include "webrtc_apm.h"

#include <string.h>

#include <webrtc/modules/audio_processing/include/audio_processing.h>
#include <webrtc/modules/interface/module_common_types.h>

struct pc_apm {
	webrtc::AudioProcessing *apm;
	int aec, ns, agc;
	webrtc::AudioFrame near_, far_;
};

static webrtc::AudioProcessing *make(int aec, int ns, int agc) {
	webrtc::Config cfg;
	cfg.Set<webrtc::ExtendedFilter>(new webrtc::ExtendedFilter(true));
	cfg.Set<webrtc::DelayAgnostic>(new webrtc::DelayAgnostic(true));
	cfg.Set<webrtc::ExperimentalAgc>(new webrtc::ExperimentalAgc(false));
	webrtc::AudioProcessing *apm = webrtc::AudioProcessing::Create(cfg);
	if (!apm) return NULL;
	apm->Initialize(48000, 48000, 48000, webrtc::AudioProcessing::kMono, webrtc::AudioProcessing::kMono,
	                webrtc::AudioProcessing::kMono);
	apm->high_pass_filter()->Enable(false);  // the Go chain filters
	if (aec) {
		apm->echo_cancellation()->enable_drift_compensation(false);
		apm->echo_cancellation()->set_suppression_level(webrtc::EchoCancellation::kLowSuppression);
		apm->echo_cancellation()->enable_delay_logging(true);
		apm->echo_cancellation()->Enable(true);
	}
	if (ns) {
		apm->noise_suppression()->set_level(webrtc::NoiseSuppression::kHigh);
		apm->noise_suppression()->Enable(true);
	}
	if (agc) {
		apm->gain_control()->set_mode(webrtc::GainControl::kAdaptiveDigital);
		apm->gain_control()->set_target_level_dbfs(6);
		apm->gain_control()->set_compression_gain_db(9);
		apm->gain_control()->enable_limiter(true);
		apm->gain_control()->Enable(true);
	}
	return apm;
}

static void frame(webrtc::AudioFrame *f) {
	f->sample_rate_hz_ = 48000;
	f->num_channels_ = 1;
	f->samples_per_channel_ = 480;
}

extern "C" pc_apm *pc_apm_new(int aec, int ns, int agc) {
	pc_apm *a = new pc_apm();
	a->aec = aec;
	a->ns = ns;
	a->agc = agc;
	a->apm = make(aec, ns, agc);
	if (!a->apm) {
		delete a;
		return NULL;
	}
	return a;
}

extern "C" int pc_apm_process(pc_apm *a, int16_t *mic, const int16_t *ref, int delay_ms) {
	int err = 0;
	if (a->aec) {
		frame(&a->far_);
		if (ref) memcpy(a->far_.data_, ref, 480 * sizeof(int16_t));
		else memset(a->far_.data_, 0, 480 * sizeof(int16_t));
		err = a->apm->ProcessReverseStream(&a->far_);
		a->apm->set_stream_delay_ms(delay_ms);
	}
	frame(&a->near_);
	memcpy(a->near_.data_, mic, 480 * sizeof(int16_t));
	int e2 = a->apm->ProcessStream(&a->near_);
	if (!err) err = e2;
	memcpy(mic, a->near_.data_, 480 * sizeof(int16_t));
	return err;
}

extern "C" int pc_apm_process_n(pc_apm *a, int16_t *mic, const int16_t *ref, int n, int delay_ms) {
	int err = 0;
	for (int i = 0; i < n; i++) {
		int e = pc_apm_process(a, mic + 480 * i, ref ? ref + 480 * i : NULL, delay_ms);
		if (!err) err = e;
	}
	return err;
}

extern "C" void pc_apm_reset(pc_apm *a) {
	delete a->apm;
	a->apm = make(a->aec, a->ns, a->agc);
}

extern "C" void pc_apm_free(pc_apm *a) {
	delete a->apm;
	delete a;
}
