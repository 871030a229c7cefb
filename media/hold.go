package media

// Mute and hold. A muted call sends nothing; a held one sends nothing and
// plays silence. What "nothing" means on the wire: no RTP packet at all
// (not Opus DTX or comfort noise, which would still cost a packet every
// 400 ms), while the connection stays up on what runs anyway: ICE consent
// checks (STUN) and the RTCP reports of both streams, about one each a
// second. The microphone is still read at its pace and its frames dropped
// (a live device must not overflow, and the dsp chain keeps its timeline);
// the RTP timestamp keeps advancing, so the peer's jitter estimate sees no
// jump, and the first packet after carries the marker bit (a new
// talkspurt). On the receiving side, held, the jitter buffer and decoder
// still take what arrives (the last packets in flight), so that nothing
// stale plays on resume: their frames are replaced by silence.

// SetAudio says whether the call sends its microphone (false: muted or
// held) and plays what it receives (false: held). It may be called at any
// time, before Start too, and takes effect at the next frame.
func (s *Session) SetAudio(send, play bool) {
	s.sendOff.Store(!send)
	s.playOff.Store(!play)
	if !play {
		s.lastArrival.Store(0) // a hold is no gap (noteGap)
	}
}

// Audio reports what SetAudio last set (both true by default).
func (s *Session) Audio() (send, play bool) {
	return !s.sendOff.Load(), !s.playOff.Load()
}
