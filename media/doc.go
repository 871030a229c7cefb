// Package media is one call's media session: a pion/webrtc PeerConnection
// carrying Opus (FEC, DTX, PLC) over DTLS-SRTP, an adaptive jitter buffer,
// RTP/RTCP statistics and the route the call took (direct or relayed).
package media
