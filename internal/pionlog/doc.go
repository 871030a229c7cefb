// Package pionlog routes pion's logs (ICE, DTLS, SRTP, TURN, vnet) into a
// log/slog.Logger, one "pion" attribute per pion component, at the slog
// levels a Levels table gives: pion logs routine protocol events at info,
// warning and even error level, which for peercall are debug chatter.
package pionlog
