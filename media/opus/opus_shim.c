//go:build cgo

#include "opus_shim.h"

#include <stddef.h>

// OPUS_SET_FORCE_MODE and MODE_SILK_ONLY are libopus's private ctl
// (opus_private.h), stable since 1.0.
#define PC_SET_FORCE_MODE_REQUEST 11002
#define PC_MODE_SILK_ONLY 1000

OpusEncoder *pc_opus_encoder_new(int rate, int bitrate, int fec, int dtx, int loss, int complexity, int silk_only, int *err) {
	OpusEncoder *e = opus_encoder_create(rate, 1, OPUS_APPLICATION_VOIP, err);
	if (*err != OPUS_OK) return NULL;
	int r;
	if ((r = opus_encoder_ctl(e, OPUS_SET_BITRATE(bitrate))) != OPUS_OK ||
	    (r = opus_encoder_ctl(e, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE))) != OPUS_OK ||
	    (r = opus_encoder_ctl(e, OPUS_SET_INBAND_FEC(fec))) != OPUS_OK ||
	    (r = opus_encoder_ctl(e, OPUS_SET_PACKET_LOSS_PERC(loss))) != OPUS_OK ||
	    (r = opus_encoder_ctl(e, OPUS_SET_DTX(dtx))) != OPUS_OK ||
	    (r = opus_encoder_ctl(e, OPUS_SET_COMPLEXITY(complexity))) != OPUS_OK ||
	    (silk_only && (r = opus_encoder_ctl(e, PC_SET_FORCE_MODE_REQUEST, (opus_int32)PC_MODE_SILK_ONLY)) != OPUS_OK)) {
		opus_encoder_destroy(e);
		*err = r;
		return NULL;
	}
	return e;
}

int pc_opus_lookahead(OpusEncoder *e) {
	opus_int32 n = 0;
	opus_encoder_ctl(e, OPUS_GET_LOOKAHEAD(&n));
	return n;
}
