// A C face for libopus's variadic ctl calls, which cgo cannot make.
#ifndef PEERCALL_OPUS_SHIM_H
#define PEERCALL_OPUS_SHIM_H
#include <opus.h>
// pc_opus_encoder_new creates and sets up a 48 kHz (rate) mono VoIP
// encoder; *err is an OPUS_* code.
OpusEncoder *pc_opus_encoder_new(int rate, int bitrate, int fec, int dtx, int loss, int complexity, int silk_only, int *err);
int pc_opus_lookahead(OpusEncoder *e);
#endif
