// Package media is one call's media session: a pion/webrtc PeerConnection
// carrying Opus (FEC, DTX, PLC) over DTLS-SRTP, an adaptive jitter buffer,
// RTP/RTCP statistics and the route the call took (direct or relayed).
//
// A call's life: New(ctx, cfg) on each side; the caller's CreateOffer, the
// callee's Accept(offer) returning the answer, the caller's SetAnswer
// (each description carries every ICE candidate: signalling is one message
// each way); Start(ctx, mic, speaker) on both, which waits for ICE and
// DTLS and then runs capture → Opus → RTP and RTP → jitter buffer → Opus
// decode, FEC or concealment → playback until Close. Stats and Route
// report on the call; Done and Err say when and why it ended early
// (ErrDevice, ErrConnectionFailed). LocalFingerprint and RemoteFingerprint
// feed a short authentication string.
//
// Sockets come from Config.Net (a pion transport.Net), so tests can put a
// call behind simulated NATs; ICE may gather on chosen addresses only,
// within a UDP port range, over TCP, or through TURN relays only.
package media
