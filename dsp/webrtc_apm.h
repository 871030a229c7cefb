// A C face for the WebRTC audio-processing module (C++), for cgo.
#ifndef PEERCALL_WEBRTC_APM_H
#define PEERCALL_WEBRTC_APM_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct pc_apm pc_apm;
pc_apm *pc_apm_new(int aec, int ns, int agc);
// pc_apm_process runs one 10 ms frame of 48 kHz mono: ref (may be NULL)
// is given to the reverse stream, then mic is processed in place with the
// stream delay delay_ms. It returns the first error code, or 0.
int pc_apm_process(pc_apm *a, int16_t *mic, const int16_t *ref, int delay_ms);
// pc_apm_process_n runs n consecutive 10 ms frames (mic and ref hold
// n*480 samples; ref may be NULL) in one call.
int pc_apm_process_n(pc_apm *a, int16_t *mic, const int16_t *ref, int n, int delay_ms);
void pc_apm_reset(pc_apm *a);
void pc_apm_free(pc_apm *a);
#ifdef __cplusplus
}
#endif
#endif
