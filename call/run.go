package call

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/dsp"
	"github.com/peercall/peercall/media"
	"github.com/peercall/peercall/signalling"
)

// run is one call going on.
type run struct {
	m        *Manager
	sc       *signalling.Call
	sess     *media.Session
	src      audio.Source
	sink     audio.Sink
	dir      Direction
	peerName string
	peerID   peer.ID
	relayID  peer.ID // the super-node whose TURN credentials the call holds
	started  time.Time
	opts     Options
	answerCh chan bool     // incoming: true to accept, false to reject
	ended    chan struct{} // closed once the call has left the call table
	phases   *phases       // the set-up's steps, logged once connected
	tr       *trickle      // trickle ICE (trickle.go), nil when off

	mu          sync.Mutex
	state       State
	sas         string
	connectedAt time.Time
	setup       time.Duration
	mediaErr    error
	route       media.Route // the route ICE chose, kept across a path loss
	chain       *dsp.Chain  // the microphone's processing, nil when off
	failovers   int         // paths recovered after a loss
	reconnects  int         // network changes the call went through
	hold        holdState   // mute and hold, both sides (hold.go)
	resuming    atomic.Bool // a RESUME is being tried (netchange.go)
	holdMu      sync.Mutex  // one mute or hold change at a time (hold.go)
}

func (r *run) info() Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	ci := Info{CallID: r.sc.ID().String(), Peer: r.peerName, PeerID: r.peerID.String(), Direction: r.dir,
		State: r.state, Started: r.started, SAS: r.sas}
	if r.sess != nil && !r.connectedAt.IsZero() {
		st := r.sess.Stats()
		ci.Route, ci.LocalAddr = st.Route.Kind, st.Route.Local
		ci.PacketsSent, ci.PacketsReceived = st.PacketsSent, st.PacketsReceived
		if st.Quality.Codec != "" {
			q := st.Quality
			ci.MOS, ci.Quality = q.MOS, &q
		}
	}
	ci.DSP = r.dspStatsLocked()
	r.holdFieldsLocked(&ci)
	ci.AudioIn, ci.AudioOut = r.devicesLocked()
	return ci
}

func (r *run) setState(s State) {
	r.mu.Lock()
	r.state = s
	r.mu.Unlock()
}

func (r *run) emit(kind EventKind, res *Result) {
	ev := Event{Kind: kind, Call: r.info(), Result: res}
	if r.opts.OnEvent != nil {
		r.opts.OnEvent(ev)
	}
	if r.m.cfg.OnCall != nil {
		r.m.cfg.OnCall(ev)
	}
}

// run drives a call from INVITE (outgoing) or answer (incoming) to its end.
func (r *run) run(ctx context.Context) *Result {
	sc := r.sc
	var durC <-chan time.Time
	var mediaDone <-chan struct{}
	var pathC <-chan media.PathEvent
	ctxDone := ctx.Done()
	hungUp := false
	hangup := func(detail string) {
		if hungUp {
			return
		}
		hungUp = true
		hctx, cancel := context.WithTimeout(context.Background(), HangupTimeout)
		defer cancel()
		if err := sc.Hangup(hctx, detail); err != nil {
			r.m.log.Debug("hang up", "err", err)
		}
	}
	// A relayed call whose path is lost moves to another super-node
	// (call_failover.go); the caller drives it, in a goroutine run owns.
	var fo *failover
	var giveUpC <-chan time.Time
	recovered := make(chan failoverResult, 1)
	rctx, rcancel := context.WithCancel(ctx)
	var rwg sync.WaitGroup
	defer func() {
		rcancel()
		rwg.Wait()
		if fo != nil {
			fo.timer.Stop()
		}
	}()
	relayLost := func() {
		if hungUp {
			return
		}
		hungUp = true
		detail := relayLostDetail(fo, r.m.cfg.Self)
		r.m.log.Warn("call ends: its relay was lost", "call", sc.ID(), "detail", detail)
		hctx, cancel := context.WithTimeout(context.Background(), HangupTimeout)
		defer cancel()
		if err := sc.HangupRelayLost(hctx, detail); err != nil {
			r.m.log.Debug("hang up", "err", err)
		}
	}
	if r.tr != nil {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			r.tr.run(rctx, sc, r.m.log)
		}()
	}
	if r.dir == Incoming {
		if err := r.startMedia(ctx); err != nil {
			hangup("media: " + err.Error())
		} else {
			mediaDone = r.sess.Done()
			pathC = pathEvents(r.sess)
		}
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	events := sc.Events()
	for events != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			switch ev.Kind {
			case signalling.EventRemoteRinging:
				r.setState(StateRinging)
				r.emit(EventRinging, nil)
			case signalling.EventAccepted:
				r.phases.mark("answer")
				if err := r.sess.SetAnswer(ev.SDP); err != nil {
					r.setMediaErr(err)
					hangup("bad SDP answer")
					continue
				}
				r.tr.begin(remoteTrickles(sc, r.sess), sc.Offer())
				if err := r.startMedia(ctx); err != nil {
					hangup("media: " + err.Error())
					continue
				}
				mediaDone = r.sess.Done()
				pathC = pathEvents(r.sess)
				if r.opts.Duration > 0 {
					timer = time.NewTimer(r.opts.Duration)
					durC = timer.C
				}
			case signalling.EventICERestart:
				// The peer's network changed: answer its new offer with
				// fresh candidates (the DTLS session is kept).
				r.reconnecting("the peer restarted ICE")
				actx, cancel := context.WithTimeout(ctx, mediaStartTimeout)
				if fo != nil && fo.dead != "" && !r.deadAnswers(actx, fo) {
					// Our own relay died too (not only the caller's):
					// take another's before gathering the answer's
					// candidates.
					if _, err := r.nextRelay(actx, fo.dead, false); err != nil {
						r.m.log.Info("no other super-node for our side of the call", "call", sc.ID(), "err", err)
					}
				}
				answer, err := r.sess.Accept(actx, ev.SDP)
				if err == nil {
					err = sc.AnswerICERestart(actx, answer)
				}
				cancel()
				if err != nil {
					r.m.log.Warn("answer ICE restart", "call", sc.ID(), "err", err)
				}
			case signalling.EventMediaState:
				r.onPeerMedia(ev.Media)
			case signalling.EventDetached:
				// This side moved: its new network must reach the peer;
				// the peer holds the call meanwhile. Then restart ICE,
				// whose offer or answer the broken stream may have lost.
				if r.m.movedRecently() {
					rwg.Add(1)
					go func() {
						defer rwg.Done()
						if r.resumeSignalling(rctx) && r.sess != nil {
							r.restartForMove(rctx, "signalling resumed after a network change")
						}
					}()
				}
			case signalling.EventResumed:
			case signalling.EventICERestartAnswer:
				if err := r.sess.SetAnswer(ev.SDP); err != nil {
					r.m.log.Warn("apply ICE restart answer", "call", sc.ID(), "err", err)
				}
			case signalling.EventEnded:
			}
		case <-ctxDone:
			ctxDone = nil
			hangup("")
		case <-durC:
			durC = nil
			hangup("")
		case pe := <-pathC:
			if !pe.Lost {
				r.reconnected()
			}
			fo = r.onPath(rctx, pe, fo, recovered, &rwg)
			if fo != nil {
				giveUpC = fo.timer.C
			} else {
				giveUpC = nil
			}
		case res := <-recovered:
			if fo != nil {
				fo.why = res.noRelay
				if res.deadGone {
					relayLost()
					continue
				}
				if res.err != nil {
					r.m.log.Warn("restart ICE after the path was lost", "call", sc.ID(), "err", res.err)
				}
			}
		case <-giveUpC:
			giveUpC = nil
			relayLost()
		case <-mediaDone:
			mediaDone = nil
			r.setMediaErr(r.sess.Err())
			if fo != nil {
				relayLost()
				continue
			}
			hangup("media ended")
		}
	}
	<-sc.Done()
	return r.result()
}

// setMediaErr records why media failed.
func (r *run) setMediaErr(err error) {
	r.mu.Lock()
	if r.mediaErr == nil {
		r.mediaErr = err
	}
	r.mu.Unlock()
}

// startMedia opens the audio devices, waits for ICE and DTLS and starts the
// audio, then tells signalling that media is up.
func (r *run) startMedia(ctx context.Context) error {
	src, sink, err := r.m.openAudio(ctx, r)
	if err != nil {
		r.setMediaErr(err)
		return err
	}
	r.mu.Lock()
	r.src, r.sink = src, sink // under mu: info reads their devices
	r.mu.Unlock()
	src, sink = r.processAudio(src, sink)
	sctx, cancel := context.WithTimeout(ctx, mediaStartTimeout)
	defer cancel()
	// A call that ends meanwhile (the peer hung up) stops the wait.
	go func() {
		select {
		case <-r.sc.Done():
			cancel()
		case <-sctx.Done():
		}
	}()
	if err := r.sess.Start(sctx, src, sink); err != nil {
		r.setMediaErr(err)
		return err
	}
	_ = r.sc.MediaConnected(ctx)
	r.phases.mark("ice_dtls")
	r.phases.log(r.m.log, "call set up", "call", r.sc.ID(), "direction", string(r.dir), "route", r.sess.Route().String())
	r.noteRoute()
	sas := crypto.ShortAuthString([]byte(r.sess.LocalFingerprint()), []byte(r.sess.RemoteFingerprint()))
	r.mu.Lock()
	r.connectedAt = time.Now()
	r.setup = r.connectedAt.Sub(r.started)
	r.sas = sas
	r.state = StateActive
	r.mu.Unlock()
	r.emit(EventConnected, nil)
	return nil
}

// result stops the media and audio devices and summarises the call.
func (r *run) result() *Result {
	var st media.Stats
	if r.sess != nil {
		st = r.sess.Stats()
		_ = r.sess.Close()
	}
	if r.src != nil {
		_ = r.src.Close()
	}
	if r.sink != nil {
		if err := r.sink.Close(); err != nil {
			r.m.log.Warn("close audio output", "err", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	dspStats := r.dspStatsLocked()
	if r.chain != nil {
		_ = r.chain.Close()
	}
	r.state = StateEnded
	res := &Result{
		Direction: r.dir,
		End:       r.sc.End().String(),
		Detail:    r.sc.EndDetail(),
		SAS:       r.sas,
		Connected: !r.connectedAt.IsZero(),
		Summary: Summary{
			CallID: r.sc.ID().String(),
			Peer:   r.peerName,
		},
	}
	if r.mediaErr != nil && res.Detail == "" {
		res.Detail = r.mediaErr.Error()
	}
	res.Summary.EndReason = res.End
	if res.Detail != "" {
		res.Summary.EndReason += ": " + res.Detail
	}
	if res.Connected {
		route := st.Route.Kind
		if route == media.RouteNone {
			route = media.RouteDirect
		}
		res.Summary.Route = route
		res.Summary.RelayPeerID = r.relayPeerID(st.Route)
		res.Summary.SetupMs = roundTo(float64(r.setup.Microseconds())/1000, 1)
		if ff := r.sess.FirstFrame(); !ff.IsZero() {
			res.Summary.FirstAudioMs = roundTo(float64(ff.Sub(r.started).Microseconds())/1000, 1)
		}
		res.Summary.Trickle = r.tr.trickled()
		res.Summary.DurationS = roundTo(st.Duration.Seconds(), 2)
		res.Summary.PacketsSent = st.PacketsSent
		res.Summary.PacketsReceived = st.PacketsReceived
		res.Summary.Loss = roundTo(st.LossRate, 4)
		res.Summary.JitterMs = roundTo(st.JitterMs, 2)
		res.Summary.RTTMs = roundTo(st.RTTMs, 2)
		res.Summary.LongestGapMs = roundTo(float64(st.LongestGap.Microseconds())/1000, 1)
		res.Summary.DSP = dspStats
		res.Summary.Reconnects = r.reconnects
		res.Summary.HeldS = roundTo(r.hold.heldFor(time.Now()).Seconds(), 2)
		if st.Quality.Codec != "" {
			q := st.Quality
			res.Summary.MOS, res.Summary.Quality = q.MOS, &q
		}
	}
	return res
}

func roundTo(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

// waitAnswer waits for Answer/Reject, the caller's CANCEL or the ring
// timeout (both end the call) and reports whether to accept.
func (r *run) waitAnswer() bool {
	for {
		select {
		case ok := <-r.answerCh:
			return ok
		case ev, ok := <-r.sc.Events():
			if !ok || ev.Kind == signalling.EventEnded {
				return false
			}
		case <-r.m.ctx.Done():
			return false
		}
	}
}

// accept answers a ringing call and runs it to its end.
func (r *run) accept(creds <-chan credentials) *Result {
	ctx := r.m.ctx
	r.phases.mark("ring")
	c := <-creds
	mcfg, relayID, err := c.cfg, c.relayID, c.err
	r.phases.mark("relay_credentials")
	var sess *media.Session
	if err == nil {
		r.relayID = relayID
		mcfg.Trickle = r.sc.Trickle()
		sess, err = media.New(ctx, mcfg)
	}
	if err == nil && mcfg.Trickle {
		r.tr = newTrickle(sess)
	}
	if err != nil {
		r.setMediaErr(err)
		hctx, cancel := context.WithTimeout(ctx, HangupTimeout)
		_ = r.sc.Reject(hctx, "media could not start")
		cancel()
		<-r.sc.Done()
		return r.result()
	}
	r.mu.Lock()
	r.sess = sess
	r.mu.Unlock()
	actx, cancel := context.WithTimeout(ctx, mediaStartTimeout)
	answer, err := sess.Accept(actx, r.sc.Offer())
	r.phases.mark("answer")
	if err == nil {
		err = r.sc.Accept(actx, answer)
	}
	r.phases.mark("accept_sent")
	cancel()
	if err == nil {
		r.tr.begin(remoteTrickles(r.sc, sess), answer)
	}
	if err != nil {
		r.setMediaErr(err)
		hctx, cancel := context.WithTimeout(ctx, HangupTimeout)
		_ = r.sc.Hangup(hctx, "could not answer: "+err.Error())
		cancel()
		<-r.sc.Done()
		return r.result()
	}
	return r.run(ctx)
}
