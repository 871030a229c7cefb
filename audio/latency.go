package audio

import "time"

// Latency is how long after Write returns the frame just written is
// heard: the frames queued ahead of it and one buffer of the device (the
// PortAudio stream's own output latency is not counted). The echo
// canceller (package dsp) stamps the frames it gets as reference with it.
func (s *deviceSink) Latency() time.Duration {
	return time.Duration(max(0, len(s.frames)-1))*s.frameDur() + s.bufferDur()
}

// Latency is how long before Read returned the frame just read ended: the
// frames captured after it and still queued, and one buffer of the device.
func (s *deviceSource) Latency() time.Duration {
	return time.Duration(len(s.frames))*s.frameDur() + s.bufferDur()
}

func (c *devCommon) frameDur() time.Duration {
	return time.Duration(c.n) * time.Second / SampleRate
}

func (c *devCommon) bufferDur() time.Duration {
	ch, r := c.io.channels(), c.io.rate()
	if ch <= 0 || r <= 0 {
		return 0
	}
	return time.Duration(len(c.io.buffer())/ch) * time.Second / time.Duration(r)
}
