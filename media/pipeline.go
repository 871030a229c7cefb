package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/media/jitterbuf"
)

// statsInterval is how often the session logs its statistics.
const statsInterval = time.Second

// Start waits (bounded by ctx) until ICE and DTLS are connected, then runs
// the call's audio until Close: capture from src → Opus → RTP → SRTP, and
// SRTP → jitter buffer → Opus decode/FEC/PLC → sink. The playout is paced
// by the session's own clock of one frame; src should be a clocked source
// (a live microphone or a paced virtual device): an unpaced one is held
// back to real time. The session does not close src or sink.
//
// When src reports io.EOF the session stops sending and keeps playing what
// it receives. Any other device error ends the call: Done is closed and Err
// wraps ErrDevice.
func (s *Session) Start(ctx context.Context, src audio.Source, sink audio.Sink) error {
	if src == nil || sink == nil {
		return errors.New("media: Start needs a source and a sink (use a silence source or null sink to mute)")
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.started:
		s.mu.Unlock()
		return errors.New("media: Start called twice")
	case !s.remoteSet:
		s.mu.Unlock()
		return errors.New("media: Start before the SDP exchange: call Accept or SetAnswer first")
	}
	s.started = true
	s.mu.Unlock()

	select {
	case <-s.connected:
	case <-ctx.Done():
		return fmt.Errorf("%w: not connected before the deadline: %v", ErrConnectionFailed, ctx.Err())
	case <-s.ctx.Done():
		if err := s.Err(); err != nil {
			return err
		}
		return ErrClosed
	}
	frame := audio.SamplesPer(s.cfg.FrameDuration)
	enc, err := newEncoder(encoderConfig{
		FrameDuration: s.cfg.FrameDuration, Bitrate: s.cfg.Bitrate,
		FEC: !s.cfg.DisableFEC, DTX: s.cfg.DTX, LossPercent: s.cfg.ExpectedLossPercent, Complexity: s.cfg.Complexity,
	})
	if err != nil {
		return err
	}
	dec, err := newDecoder(frame)
	if err != nil {
		return err
	}
	jb := jitterbuf.New(s.cfg.FrameDuration, !s.cfg.DisableFEC)
	s.mu.Lock()
	if s.closed {
		// Close ran while we waited: it must not miss our goroutines.
		s.mu.Unlock()
		return ErrClosed
	}
	s.jb, s.player, s.startedAt = jb, newPlayer(jb, dec, frame), time.Now()
	s.wg.Add(5) // under mu: Close marks closed under mu before it waits
	s.mu.Unlock()
	s.log.Info("call media started", "route", s.Route().String(), "frame", s.cfg.FrameDuration, "bitrate", s.cfg.Bitrate, "fec", !s.cfg.DisableFEC, "dtx", s.cfg.DTX)

	go s.sendLoop(src, enc, frame)
	go s.receiveLoop()
	go s.rtcpLoop()
	go s.playoutLoop(sink, frame)
	go s.statsLoop()
	return nil
}

// sendLoop reads the microphone, encodes and sends one RTP packet a frame.
func (s *Session) sendLoop(src audio.Source, enc *encoder, frame int) {
	defer s.wg.Done()
	pcm := make([]int16, frame)
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: uint8(opusCodec.PayloadType)}}
	var seq uint16
	var ts uint32
	var start time.Time
	talkspurt := true // the next packet starts a talkspurt (RTP marker bit)
	for n := 0; ; n++ {
		// (A lock-step test drives both ends by hand: no holding back.)
		if !start.IsZero() && s.cfg.playoutTicks == nil {
			due := start.Add(time.Duration(n) * s.cfg.FrameDuration)
			if time.Since(due) > maxBehind {
				// The source stalled (a device that failed and was
				// replaced): start the schedule again rather than send
				// what the replacement has at once to catch up.
				start = time.Now().Add(-time.Duration(n) * s.cfg.FrameDuration)
				due = start.Add(time.Duration(n) * s.cfg.FrameDuration)
			}
			if !s.waitFrameTime(due) {
				return
			}
		}
		if err := src.Read(s.ctx, pcm); err != nil {
			switch {
			case s.ctx.Err() != nil:
			case errors.Is(err, io.EOF):
				s.log.Info("capture ended: no more audio to send", "frames", n)
			default:
				s.fail(fmt.Errorf("%w: capture stopped after %d frames: %w (check the microphone or --audio-in)", ErrDevice, n, err))
			}
			return
		}
		if start.IsZero() {
			start = time.Now()
		}
		s.framesCaptured.Add(1)
		if s.sendOff.Load() { // muted or held (hold.go): read, send nothing
			s.framesWithheld.Add(1)
			ts += uint32(frame)
			talkspurt = true
			continue
		}
		payload, err := enc.encode(pcm)
		if err != nil {
			s.fail(fmt.Errorf("media: %w", err))
			return
		}
		if len(payload) > 0 {
			pkt.SequenceNumber, pkt.Timestamp, pkt.Payload = seq, ts, payload
			pkt.Marker, talkspurt = talkspurt, false
			seq++
			if s.cfg.lossHook != nil && s.cfg.lossHook(pkt.SequenceNumber) {
				s.packetsDropped.Add(1)
			} else if err := s.track.WriteRTP(pkt); err != nil {
				if s.ctx.Err() != nil {
					return
				}
				s.log.Warn("sending RTP failed", "err", err)
			} else {
				s.packetsSent.Add(1)
				s.bytesSent.Add(uint64(len(payload)))
			}
		}
		ts += uint32(frame)
	}
}

// maxAhead is how far ahead of real time the sender lets a source run. A
// clocked source never gets there; an unpaced one (a WAV file opened
// without pacing) is held back to real time instead of flooding the peer.
const maxAhead = 60 * time.Millisecond

// maxBehind is how far behind real time the sender may fall (a source
// that stalled: a device that failed and was replaced) before it restarts
// its schedule. Below it the sender catches up as before (a paced virtual
// source hands over up to a second of late frames at once).
const maxBehind = time.Second

// waitFrameTime holds the send loop while frame time due is more than
// maxAhead away; false when the session ends meanwhile.
func (s *Session) waitFrameTime(due time.Time) bool {
	ahead := time.Until(due)
	if ahead <= maxAhead {
		return true
	}
	t := time.NewTimer(ahead - maxAhead/2)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// receiveLoop feeds the remote track's packets to the jitter buffer.
func (s *Session) receiveLoop() {
	defer s.wg.Done()
	var rt remoteTrack
	select {
	case rt = <-s.remoteTrack:
	case <-s.ctx.Done():
		return
	}
	t := rt.track
	// Drain the receiver's RTCP (the peer's sender reports) so that the
	// report interceptor can put LSR/DLSR in our receiver reports: the
	// peer's RTT measurement depends on it.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, _, err := rt.receiver.Read(buf)
			if err != nil {
				return
			}
			s.readReports(buf[:n]) // the peer's sender reports carry reports on our stream too
		}
	}()
	if !webrtcOpus(t.Codec()) {
		s.fail(fmt.Errorf("%w: peer sends %s", ErrNoOpus, t.Codec().MimeType))
		return
	}
	// One buffer and one packet for the whole call (ReadRTP would allocate
	// both for every packet); the jitter buffer copies the payload.
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	p := &pkt
	defer s.endGaps()
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			if s.ctx.Err() == nil && !errors.Is(err, io.EOF) {
				s.log.Debug("receive ended", "err", err)
			}
			return
		}
		if err := p.Unmarshal(buf[:n]); err != nil || len(p.Payload) == 0 || len(p.Payload) > maxOpusPacket {
			continue // malformed, padding-only or oversized: nothing to decode
		}
		now := time.Now()
		s.jb.Push(p.SequenceNumber, p.Timestamp, p.Payload, s.jbNow(now, false))
		if s.packetsReceived.Load() == 0 {
			close(s.firstPacket)
		}
		s.noteRTP(now)
		s.noteGap(now)
		s.bytesReceived.Add(uint64(len(p.Payload)))
		s.packetsReceived.Add(1) // last: a lock-step test waits on it
	}
}

func webrtcOpus(c webrtc.RTPCodecParameters) bool {
	return c.MimeType == webrtc.MimeTypeOpus || c.MimeType == "audio/OPUS" || c.MimeType == "audio/Opus"
}

// rtcpLoop drains the RTCP that arrives for our sender (the peer's
// receiver reports: loss and RTT of what we send) so that the report and
// stats interceptors see it.
func (s *Session) rtcpLoop() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := s.sender.Read(buf)
		if err != nil {
			return
		}
		s.readReports(buf[:n])
	}
}

// playoutLoop plays one frame per frame duration from the jitter buffer.
// Its clock keeps absolute deadlines: a late wake-up (a busy machine)
// plays the missed frames at once instead of dropping ticks, as a
// time.Ticker would, so the playout rate matches the sender's.
func (s *Session) playoutLoop(sink audio.Sink, frame int) {
	defer s.wg.Done()
	pcm := make([]int16, frame)
	if s.cfg.playoutTicks != nil {
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-s.cfg.playoutTicks:
			}
			if !s.playOne(sink, pcm) {
				return
			}
			s.ticks.Add(1)
		}
	}
	// Anchor the playout clock's phase on the first packet's arrival: a
	// tick then comes playoutPhase after each packet is due, instead of at
	// a random point of the frame, which saves half a frame of delay on
	// average.
	select {
	case <-s.ctx.Done():
		return
	case <-s.firstPacket:
	}
	d := s.cfg.FrameDuration
	next := time.Now().Add(playoutPhase)
	timer := time.NewTimer(playoutPhase)
	defer timer.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		s.noteSlip(now.Sub(next))
		if now.Sub(next) > playoutMaxBehind {
			next = now // stalled for long (suspended?): restart the clock
		}
		for !next.After(now) {
			next = next.Add(d)
			if !s.playOne(sink, pcm) {
				return
			}
		}
		// The jitter buffer moves the clock's phase to keep the margin
		// it measured (a fraction of a frame on a clean path).
		next = next.Add(s.jb.TakeShift())
		timer.Reset(time.Until(next))
	}
}

// noteSlip records how late the playout clock woke up.
func (s *Session) noteSlip(d time.Duration) {
	for {
		old := s.maxSlip.Load()
		if int64(d) <= old || s.maxSlip.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// playoutPhase is how long after a packet's expected arrival the playout
// clock ticks: room for the sender's and the network's small jitter.
const playoutPhase = 3 * time.Millisecond

// playoutMaxBehind is how late the playout clock may fall before it
// restarts instead of catching up.
const playoutMaxBehind = 200 * time.Millisecond

// jbNow is the jitter buffer's clock: now, or in a lock-step test (whose
// steps run faster than real time) the playout ticks so far in frames: a
// packet received before tick n arrives at n frames, and tick n plays 2 ms
// later (the buffer's margin on a clean path).
func (s *Session) jbNow(now time.Time, playout bool) time.Time {
	if s.cfg.playoutTicks == nil {
		return now
	}
	t := time.Unix(0, 0).Add(time.Duration(s.ticks.Load()) * s.cfg.FrameDuration)
	if playout {
		t = t.Add(2 * time.Millisecond)
	}
	return t
}

// playOne plays one frame; false ends the playout.
func (s *Session) playOne(sink audio.Sink, pcm []int16) bool {
	ok, err := s.player.fill(pcm, s.jbNow(time.Now(), true))
	if err != nil {
		s.fail(fmt.Errorf("media: playout: %w", err))
		return false
	}
	if !ok {
		return true // nothing received yet
	}
	if s.playOff.Load() { // on hold (hold.go): what arrived is decoded, not played
		clear(pcm)
	}
	if err := sink.Write(s.ctx, pcm); err != nil {
		if s.ctx.Err() == nil {
			s.fail(fmt.Errorf("%w: playback stopped after %d frames: %w (check the speaker or --audio-out)", ErrDevice, s.framesPlayed.Load(), err))
		}
		return false
	}
	if s.framesPlayed.Add(1) == 1 {
		s.firstFrame.Store(time.Now().UnixNano())
	}
	return true
}

// statsLoop refreshes and logs the statistics once a second.
func (s *Session) statsLoop() {
	defer s.wg.Done()
	tick := time.NewTicker(statsInterval)
	defer tick.Stop()
	lastSent, lastRecv, last := s.bytesSent.Load(), s.bytesReceived.Load(), time.Now()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		sent, recv, now := s.bytesSent.Load(), s.bytesReceived.Load(), time.Now()
		secs := now.Sub(last).Seconds()
		s.sendBps.Store(uint64(float64(sent-lastSent) * 8 / secs))
		s.recvBps.Store(uint64(float64(recv-lastRecv) * 8 / secs))
		s.ratesSet.Store(true)
		lastSent, lastRecv, last = sent, recv, now
		st := s.Stats()
		s.log.Debug("call stats", "sent", st.PacketsSent, "received", st.PacketsReceived,
			"loss", st.LossRate, "jitter_ms", st.JitterMs, "rtt_ms", st.RTTMs,
			"send_kbps", st.SendKbps, "recv_kbps", st.RecvKbps, "fec", st.FECRecovered,
			"concealed", st.Concealed, "delay_ms", st.PlayoutDelayMs, "route", st.Route.String())
	}
}
