package media

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
)

// TestHoldSendsNothingPlaysSilence runs a lock-step call (see lockstepCall)
// in which both sides stop sending and playing at frame holdAt (as the
// call layer does on hold, on both ends) and go back at resumeAt: no RTP
// packet leaves either side while held, both hear exact silence (the
// speech sent meanwhile was well above it), and after the resume both hear
// the other's speech again.
func TestHoldSendsNothingPlaysSilence(t *testing.T) {
	const holdAt, resumeAt = 60, 110 // 20 ms frames: 1.2 s, then 1 s of hold
	ca, cb := loopbackConfig(), loopbackConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ticksA, ticksB := make(chan struct{}), make(chan struct{})
	ca.playoutTicks, cb.playoutTicks = ticksA, ticksB
	a, b := pair(t, ctx, ca, cb)
	sentA, sentB := speechSeconds("alice", 4, audio.Frame20ms), speechSeconds("bob", 4, audio.Frame20ms)
	srcA, srcB := newStepSource(sentA), newStepSource(sentB)
	sinkA, sinkB := &sliceSink{}, &sliceSink{}
	if err := startBoth(ctx, a, b, srcA, srcB, sinkA, sinkB); err != nil {
		t.Fatal(err)
	}
	step := func(ch chan struct{}) {
		select {
		case ch <- struct{}{}:
		case <-ctx.Done():
			t.Fatalf("lock-step call stuck: %v", ctx.Err())
		}
	}
	frame := audio.SamplesPer(audio.Frame20ms)
	frames := len(sentA) / frame
	var want, withheld uint64
	var sentAtHold [2]uint64
	for n := 0; n < frames+2; n++ {
		held := n >= holdAt && n < resumeAt
		switch n {
		case holdAt:
			sentAtHold = [2]uint64{a.packetsSent.Load(), b.packetsSent.Load()}
			a.SetAudio(false, false)
			b.SetAudio(false, false)
		case resumeAt:
			if got := [2]uint64{a.packetsSent.Load(), b.packetsSent.Load()}; got != sentAtHold {
				t.Errorf("packets sent (alice, bob) went from %v to %v during the hold, want none", sentAtHold, got)
			}
			a.SetAudio(true, true)
			b.SetAudio(true, true)
		}
		if (n+1)*frame <= len(sentA) {
			step(srcA.steps)
			step(srcB.steps)
			if held {
				withheld++
			} else {
				want++
			}
		}
		// A held frame sends nothing to wait for: wait until both senders
		// have withheld it, so that the resume cannot overtake it.
		for a.framesWithheld.Load() < withheld || b.framesWithheld.Load() < withheld {
			if ctx.Err() != nil {
				t.Fatalf("frame %d: frames never withheld (alice %d, bob %d of %d)", n, a.framesWithheld.Load(), b.framesWithheld.Load(), withheld)
			}
			time.Sleep(200 * time.Microsecond)
		}
		for a.packetsReceived.Load() < want || b.packetsReceived.Load() < want {
			if ctx.Err() != nil {
				t.Fatalf("frame %d: packets never arrived (alice has %d, bob %d of %d)", n, a.packetsReceived.Load(), b.packetsReceived.Load(), want)
			}
			time.Sleep(200 * time.Microsecond)
		}
		step(ticksA)
		step(ticksB)
		waitTicks(t, ctx, int64(n+1), a, b)
	}
	for (len(sinkA.got()) < len(sentB)-4*frame || len(sinkB.got()) < len(sentA)-4*frame) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	stA := a.Stats()
	if stA.FramesWithheld != resumeAt-holdAt {
		t.Errorf("alice withheld %d frames, want %d", stA.FramesWithheld, resumeAt-holdAt)
	}
	for _, d := range []struct {
		who         string
		sent, heard []int16
	}{{"bob hears alice", sentA, sinkB.got()}, {"alice hears bob", sentB, sinkA.got()}} {
		// Playout starts a frame or two after the first tick: frames
		// holdAt .. resumeAt-4 of what was heard were played while held
		// whatever that start.
		during := d.heard[holdAt*frame : (resumeAt-3)*frame]
		heardDB, sentDB := dbfs(during), dbfs(d.sent[holdAt*frame:(resumeAt-3)*frame])
		peak := 0
		for _, v := range during {
			peak = max(peak, int(v), -int(v))
		}
		t.Logf("%s: during the hold %.1f dBFS heard (peak %d), %.1f dBFS sent", d.who, heardDB, peak, sentDB)
		if peak != 0 || sentDB < -40 {
			t.Errorf("%s: during the hold heard peak %d (%.1f dBFS), want exact silence while %.1f dBFS of speech was sent", d.who, peak, heardDB, sentDB)
		}
		after := d.sent[(resumeAt+5)*frame:]
		sim, _ := segmentSimilarity(after, d.heard[(resumeAt+5)*frame-2*frame:])
		t.Logf("%s: similarity after the resume %.3f", d.who, sim)
		if sim < 0.9 {
			t.Errorf("%s: similarity after the resume %.3f, want >= 0.9", d.who, sim)
		}
		if sim <= testaudio.Threshold {
			t.Errorf("%s: what was heard after the resume is not what was sent", d.who)
		}
	}
}

// dbfs is the RMS level of s (-100 for digital silence).
func dbfs(s []int16) float64 {
	var e float64
	for _, v := range s {
		e += float64(v) * float64(v)
	}
	if e == 0 || len(s) == 0 {
		return -100
	}
	return 20 * math.Log10(math.Sqrt(e/float64(len(s)))/32768)
}

// transportBytes is what s's ICE transport has sent and received so far
// (every packet on the wire: RTP, RTCP, STUN consent checks, DTLS).
func transportBytes(s *Session) (sent, received uint64) {
	for _, st := range s.pc.GetStats() {
		if ts, ok := st.(webrtc.TransportStats); ok {
			sent += ts.BytesSent
			received += ts.BytesReceived
		}
	}
	return sent, received
}

// TestHoldBandwidth measures, in real time on loopback, what a call costs
// on the wire while both sides talk and while it is held: held, no RTP
// packet goes out, and what the transport still carries (ICE consent
// checks, RTCP reports) is a small fraction of the talk's. The figures
// are logged:
//
//	go test -run TestHoldBandwidth -v ./media/
func TestHoldBandwidth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := pair(t, ctx, loopbackConfig(), loopbackConfig())
	srcA := &sliceSource{samples: speechSeconds("alice", 7, audio.Frame20ms), interval: audio.Frame20ms}
	srcB := &sliceSource{samples: speechSeconds("bob", 7, audio.Frame20ms), interval: audio.Frame20ms}
	if err := startBoth(ctx, a, b, srcA, srcB, &sliceSink{discard: true}, &sliceSink{discard: true}); err != nil {
		t.Fatal(err)
	}
	rate := func(d time.Duration) (bps float64, rtp uint64) {
		s0, _ := transportBytes(a)
		p0 := a.packetsSent.Load()
		time.Sleep(d)
		s1, _ := transportBytes(a)
		return float64(s1-s0) * 8 / d.Seconds(), a.packetsSent.Load() - p0
	}
	time.Sleep(500 * time.Millisecond)
	talkBps, talkRTP := rate(2 * time.Second)
	a.SetAudio(false, false)
	b.SetAudio(false, false)
	time.Sleep(200 * time.Millisecond)
	heldBps, heldRTP := rate(2 * time.Second)
	t.Logf("alice's transport sends %.1f kbit/s while talking (%d RTP packets in 2 s), %.2f kbit/s held (%d RTP packets)", talkBps/1000, talkRTP, heldBps/1000, heldRTP)
	if talkRTP < 25 {
		t.Fatalf("only %d RTP packets in 2 s of talk: the call did not run", talkRTP)
	}
	if heldRTP != 0 {
		t.Errorf("%d RTP packets sent while held, want none", heldRTP)
	}
	if heldBps > talkBps/10 {
		t.Errorf("held, the transport still sends %.2f kbit/s, over a tenth of the talk's %.1f", heldBps/1000, talkBps/1000)
	}
}
