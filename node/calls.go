package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/media"
	"github.com/peercall/peercall/signalling"
)

// Call outcomes. The CLI maps ErrRejected and ErrBusy to exit code 5.
var (
	ErrRejected   = errors.New("call rejected")
	ErrBusy       = errors.New("callee is busy")
	ErrNoAnswer   = errors.New("no answer")
	ErrCallFailed = errors.New("call failed")
	ErrNoSuchCall = errors.New("no such call")
)

// Call timeouts.
const (
	// mediaStartTimeout bounds ICE and DTLS after the answer.
	mediaStartTimeout = 20 * time.Second
	// hangupTimeout bounds the HANGUP/CANCEL message.
	hangupTimeout = 5 * time.Second
	// maxRecentCalls is how many ended calls status remembers.
	maxRecentCalls = 10
)

// CallSummary is a call's summary, the object `call --json` prints
// (DESIGN.md's CLI contract).
type CallSummary struct {
	CallID          string  `json:"call_id"`
	Peer            string  `json:"peer"`
	Route           string  `json:"route"`
	RelayPeerID     string  `json:"relay_peer_id"`
	SetupMs         float64 `json:"setup_ms"`
	DurationS       float64 `json:"duration_s"`
	PacketsSent     uint64  `json:"packets_sent"`
	PacketsReceived uint64  `json:"packets_received"`
	Loss            float64 `json:"loss"`
	JitterMs        float64 `json:"jitter_ms"`
	RTTMs           float64 `json:"rtt_ms"`
	// EndReason is how the call ended ("hung up (local)", "relay lost", …)
	// and why, when a reason was given: an additive field.
	EndReason string `json:"end_reason,omitempty"`
}

// CallResult is how a call ended: the summary plus what the human output
// shows.
type CallResult struct {
	Summary   CallSummary `json:"summary"`
	Direction string      `json:"direction"`
	// End is the signalling end reason ("hangup (local)", "rejected", …).
	End    string `json:"end"`
	Detail string `json:"detail,omitempty"`
	// SAS is the short authentication string of the call's DTLS
	// fingerprints, empty if media never came up.
	SAS string `json:"sas,omitempty"`
	// Connected reports whether audio flowed.
	Connected bool `json:"connected"`
}

// CallInfo describes a call in progress (status, the control API's list).
type CallInfo struct {
	CallID    string    `json:"call_id"`
	Peer      string    `json:"peer"`
	PeerID    string    `json:"peer_id"`
	Direction string    `json:"direction"` // "outgoing" or "incoming"
	State     string    `json:"state"`     // "inviting", "ringing", "active", "ended"
	Started   time.Time `json:"started"`
	SAS       string    `json:"sas,omitempty"`
	Route     string    `json:"route,omitempty"`
	// PacketsSent and PacketsReceived count audio packets so far.
	PacketsSent     uint64 `json:"packets_sent,omitempty"`
	PacketsReceived uint64 `json:"packets_received,omitempty"`
}

// CallEvent is a step of a call, given to CallOptions.OnEvent and
// Options.OnCall: "ringing", "incoming", "connected", "ended".
type CallEvent struct {
	Kind   string      `json:"kind"`
	Call   CallInfo    `json:"call"`
	Result *CallResult `json:"result,omitempty"` // "ended"
}

// CallOptions tune one outgoing call.
type CallOptions struct {
	// Duration hangs up this long after audio starts (0: until hung up or
	// ctx ends).
	Duration time.Duration
	// AudioIn and AudioOut override the node's devices for this call.
	AudioIn, AudioOut string
	// OnEvent receives the call's progress.
	OnEvent func(CallEvent)
	// ForceRelay sends the media through a super-node's TURN relay only
	// (ICE transport policy relay; `call --force-relay`).
	ForceRelay bool
}

// callRun is one call going on.
type callRun struct {
	n        *Node
	sc       *signalling.Call
	sess     *media.Session
	src      audio.Source
	sink     audio.Sink
	outgoing bool
	peerName string
	peerID   peer.ID
	relayID  peer.ID // the super-node whose TURN credentials the call holds
	started  time.Time
	opts     CallOptions
	answerCh chan bool     // incoming: true to accept, false to reject
	ended    chan struct{} // closed once the call has left the call table

	mu          sync.Mutex
	state       string
	sas         string
	connectedAt time.Time
	setup       time.Duration
	mediaErr    error
	route       string // the route ICE chose ("direct", "relay"), kept across a path loss
	failovers   int    // paths recovered after a loss
}

func (r *callRun) info() CallInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	dir := "incoming"
	if r.outgoing {
		dir = "outgoing"
	}
	ci := CallInfo{CallID: r.sc.ID().String(), Peer: r.peerName, PeerID: r.peerID.String(), Direction: dir,
		State: r.state, Started: r.started, SAS: r.sas}
	if r.sess != nil && !r.connectedAt.IsZero() {
		st := r.sess.Stats()
		ci.Route = st.Route.Kind
		ci.PacketsSent, ci.PacketsReceived = st.PacketsSent, st.PacketsReceived
	}
	return ci
}

func (r *callRun) setState(s string) {
	r.mu.Lock()
	r.state = s
	r.mu.Unlock()
}

func (r *callRun) emit(kind string, res *CallResult) {
	ev := CallEvent{Kind: kind, Call: r.info(), Result: res}
	if r.opts.OnEvent != nil {
		r.opts.OnEvent(ev)
	}
	if r.n.opts.OnCall != nil {
		r.n.opts.OnCall(ev)
	}
}

// callTable holds the calls going on and the latest ended ones.
type callTable struct {
	mu     sync.Mutex
	active map[string]*callRun
	recent []CallResult
}

func (t *callTable) init() { t.active = map[string]*callRun{} }

func (t *callTable) add(r *callRun) {
	t.mu.Lock()
	t.active[r.sc.ID().String()] = r
	t.mu.Unlock()
}

func (t *callTable) remove(r *callRun, res *CallResult) {
	t.mu.Lock()
	delete(t.active, r.sc.ID().String())
	if res != nil {
		t.recent = append(t.recent, *res)
		if len(t.recent) > maxRecentCalls {
			t.recent = t.recent[len(t.recent)-maxRecentCalls:]
		}
	}
	t.mu.Unlock()
}

// find returns the call with id, or the only call when id is empty.
func (t *callTable) find(id string) (*callRun, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id != "" {
		r, ok := t.active[id]
		if !ok {
			return nil, fmt.Errorf("%w %q; list the calls with `peercall status`", ErrNoSuchCall, id)
		}
		return r, nil
	}
	if len(t.active) != 1 {
		return nil, fmt.Errorf("%w: %d calls go on; name one by its call_id", ErrNoSuchCall, len(t.active))
	}
	for _, r := range t.active {
		return r, nil
	}
	return nil, ErrNoSuchCall
}

// Calls returns the calls going on.
func (n *Node) Calls() []CallInfo {
	n.calls.mu.Lock()
	runs := make([]*callRun, 0, len(n.calls.active))
	for _, r := range n.calls.active {
		runs = append(runs, r)
	}
	n.calls.mu.Unlock()
	out := make([]CallInfo, 0, len(runs))
	for _, r := range runs {
		out = append(out, r.info())
	}
	return out
}

// RecentCalls returns the latest ended calls, oldest first.
func (n *Node) RecentCalls() []CallResult {
	n.calls.mu.Lock()
	defer n.calls.mu.Unlock()
	return append([]CallResult(nil), n.calls.recent...)
}

// mediaConfig is the media configuration of a call to or from p, and the
// super-node that gave its TURN credentials (see relayMedia).
func (n *Node) mediaConfig(ctx context.Context, p peer.ID, forceRelay bool) (media.Config, peer.ID, error) {
	cfg := n.opts.Media
	cfg.Logger = n.log
	if n.opts.ICEServers == nil {
		relayID, err := n.relayMedia(ctx, p, forceRelay, &cfg)
		return cfg, relayID, err
	}
	if n.opts.ICEServers != nil {
		servers, err := n.opts.ICEServers.ICEServers(ctx, p)
		if err != nil {
			n.log.Warn("no relay (TURN) servers for this call; trying direct paths only", "err", err)
		} else {
			cfg.ICEServers = servers
		}
	}
	cfg.RelayOnly = cfg.RelayOnly || forceRelay
	return cfg, "", nil
}

// Call calls username and blocks until the call ends: it looks the user up
// (DHT, then directory, then cache), dials their node, sends INVITE with an
// SDP offer, waits for the answer, runs the audio, and hangs up after
// o.Duration or when ctx ends (Ctrl-C). It returns the call's result, and an
// error wrapping ErrRejected, ErrBusy, ErrNoAnswer, ErrUnknownUser or
// ErrUserOffline when the call did not happen.
func (n *Node) Call(ctx context.Context, username string, o CallOptions) (*CallResult, error) {
	start := time.Now()
	info, err := n.Lookup(ctx, username)
	if err != nil {
		return nil, err
	}
	if info.PeerID == n.host.ID() {
		return nil, fmt.Errorf("%s is this node's own user; call someone else", info.Username)
	}
	if err := n.connect(ctx, info); err != nil {
		return nil, err
	}
	cert, err := n.currentCertificate()
	if err != nil {
		return nil, err
	}
	mcfg, relayID, err := n.mediaConfig(ctx, info.PeerID, o.ForceRelay)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCallFailed, err)
	}
	sess, err := media.New(ctx, mcfg)
	if err != nil {
		return nil, fmt.Errorf("%w: set up media: %w", ErrCallFailed, err)
	}
	defer sess.Close()
	offer, err := sess.CreateOffer(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: make the SDP offer: %w", ErrCallFailed, err)
	}
	sc, err := n.sig.Call(ctx, info.PeerID.String(), signalling.Invite{Certificate: cert.Marshal(), SDP: offer, DisplayName: n.user})
	if err != nil {
		if errors.Is(err, signalling.ErrTooManyCalls) || errors.Is(err, signalling.ErrAlreadyInCall) {
			return nil, fmt.Errorf("%w: %w", ErrCallFailed, err)
		}
		return nil, fmt.Errorf("%w: call %s: %w", ErrUserOffline, info.Username, err)
	}
	r := &callRun{n: n, sc: sc, sess: sess, outgoing: true, peerName: info.Username, peerID: info.PeerID,
		relayID: relayID, started: start, opts: o, state: "inviting", ended: make(chan struct{})}
	n.calls.add(r)
	res := r.run(ctx)
	n.calls.remove(r, res)
	close(r.ended)
	r.emit("ended", res)
	err = endError(sc.End(), res)
	r.mu.Lock()
	mediaErr := r.mediaErr
	r.mu.Unlock()
	if err == nil && !res.Connected && mediaErr != nil && ctx.Err() == nil {
		err = fmt.Errorf("%w: %s answered, but the audio could not start: %w", ErrCallFailed, res.Summary.Peer, mediaErr)
	}
	return res, err
}

// endError turns an outgoing call's end into the error Call returns.
func endError(end signalling.EndReason, res *CallResult) error {
	detail := ""
	if res.Detail != "" {
		detail = ": " + res.Detail
	}
	switch end {
	case signalling.EndRejected:
		return fmt.Errorf("%w by %s%s", ErrRejected, res.Summary.Peer, detail)
	case signalling.EndBusy:
		return fmt.Errorf("%w: %s is in another call", ErrBusy, res.Summary.Peer)
	case signalling.EndNoAnswer:
		return fmt.Errorf("%w: %s did not answer", ErrNoAnswer, res.Summary.Peer)
	case signalling.EndCertificateRejected:
		return fmt.Errorf("%w: %s refused our certificate%s; run `peercall login` to renew it", ErrCertificate, res.Summary.Peer, detail)
	case signalling.EndGlare:
		return fmt.Errorf("%w: %s called us at the same moment; their call goes on", ErrCallFailed, res.Summary.Peer)
	case signalling.EndMediaTimeout, signalling.EndConnectionLost, signalling.EndProtocolError:
		if !res.Connected {
			return fmt.Errorf("%w: %s%s", ErrCallFailed, end, detail)
		}
	}
	return nil
}

// run drives a call from INVITE (outgoing) or answer (incoming) to its end.
func (r *callRun) run(ctx context.Context) *CallResult {
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
		hctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
		defer cancel()
		if err := sc.Hangup(hctx, detail); err != nil {
			r.n.log.Debug("hang up", "err", err)
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
		detail := relayLostDetail(fo, r.n.host.ID())
		r.n.log.Warn("call ends: its relay was lost", "call", sc.ID(), "detail", detail)
		hctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
		defer cancel()
		if err := sc.HangupRelayLost(hctx, detail); err != nil {
			r.n.log.Debug("hang up", "err", err)
		}
	}
	if !r.outgoing {
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
				r.setState("ringing")
				r.emit("ringing", nil)
			case signalling.EventAccepted:
				if err := r.sess.SetAnswer(ev.SDP); err != nil {
					r.setMediaErr(err)
					hangup("bad SDP answer")
					continue
				}
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
				actx, cancel := context.WithTimeout(ctx, mediaStartTimeout)
				if fo != nil && fo.dead != "" && !r.answersPing(actx, fo.dead, calleePingTimeout) {
					// Our own relay died too (not only the caller's):
					// take another's before gathering the answer's
					// candidates.
					if _, err := r.nextRelay(actx, fo.dead, false); err != nil {
						r.n.log.Info("no other super-node for our side of the call", "call", sc.ID(), "err", err)
					}
				}
				answer, err := r.sess.Accept(actx, ev.SDP)
				if err == nil {
					err = sc.AnswerICERestart(actx, answer)
				}
				cancel()
				if err != nil {
					r.n.log.Warn("answer ICE restart", "call", sc.ID(), "err", err)
				}
			case signalling.EventICERestartAnswer:
				if err := r.sess.SetAnswer(ev.SDP); err != nil {
					r.n.log.Warn("apply ICE restart answer", "call", sc.ID(), "err", err)
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
					r.n.log.Warn("restart ICE after the path was lost", "call", sc.ID(), "err", res.err)
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
func (r *callRun) setMediaErr(err error) {
	r.mu.Lock()
	if r.mediaErr == nil {
		r.mediaErr = err
	}
	r.mu.Unlock()
}

// startMedia opens the audio devices, waits for ICE and DTLS and starts the
// audio, then tells signalling that media is up.
func (r *callRun) startMedia(ctx context.Context) error {
	src, sink, err := r.n.openAudio(ctx, r)
	if err != nil {
		r.setMediaErr(err)
		return err
	}
	r.src, r.sink = src, sink
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
	r.noteRoute()
	sas := crypto.ShortAuthString([]byte(r.sess.LocalFingerprint()), []byte(r.sess.RemoteFingerprint()))
	r.mu.Lock()
	r.connectedAt = time.Now()
	r.setup = r.connectedAt.Sub(r.started)
	r.sas = sas
	r.state = "active"
	r.mu.Unlock()
	r.emit("connected", nil)
	return nil
}

// result stops the media and audio devices and summarises the call.
func (r *callRun) result() *CallResult {
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
			r.n.log.Warn("close audio output", "err", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state = "ended"
	dir := "incoming"
	if r.outgoing {
		dir = "outgoing"
	}
	res := &CallResult{
		Direction: dir,
		End:       r.sc.End().String(),
		Detail:    r.sc.EndDetail(),
		SAS:       r.sas,
		Connected: !r.connectedAt.IsZero(),
		Summary: CallSummary{
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
		if route == "" {
			route = "direct"
		}
		res.Summary.Route = route
		res.Summary.RelayPeerID = relayPeerID(st.Route, r.relayID)
		res.Summary.SetupMs = roundTo(float64(r.setup.Microseconds())/1000, 1)
		res.Summary.DurationS = roundTo(st.Duration.Seconds(), 2)
		res.Summary.PacketsSent = st.PacketsSent
		res.Summary.PacketsReceived = st.PacketsReceived
		res.Summary.Loss = roundTo(st.LossRate, 4)
		res.Summary.JitterMs = roundTo(st.JitterMs, 2)
		res.Summary.RTTMs = roundTo(st.RTTMs, 2)
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

// openAudio opens a call's devices: Options.Audio when set, else the specs
// of the call or of the node (default: the sound card). Virtual sources are
// paced in real time.
func (n *Node) openAudio(ctx context.Context, r *callRun) (audio.Source, audio.Sink, error) {
	if n.opts.Audio != nil {
		return n.opts.Audio(ctx, r.info())
	}
	in, out := n.opts.AudioIn, n.opts.AudioOut
	if r.opts.AudioIn != "" {
		in = r.opts.AudioIn
	}
	if r.opts.AudioOut != "" {
		out = r.opts.AudioOut
	}
	if in == "" {
		in = "default"
	}
	if out == "" {
		out = "default"
	}
	inSpec, err := audio.ParseSpec(in)
	if err != nil {
		return nil, nil, fmt.Errorf("audio input: %w", err)
	}
	outSpec, err := audio.ParseSpec(out)
	if err != nil {
		return nil, nil, fmt.Errorf("audio output: %w", err)
	}
	frame := n.opts.Media.FrameDuration
	src, err := audio.OpenSource(ctx, inSpec, audio.Options{FrameDuration: frame, Paced: true, Logger: n.log})
	if err != nil {
		return nil, nil, fmt.Errorf("open audio input %s: %w", inSpec, err)
	}
	sink, err := audio.OpenSink(ctx, outSpec, audio.Options{FrameDuration: frame, Logger: n.log})
	if err != nil {
		src.Close()
		return nil, nil, fmt.Errorf("open audio output %s: %w", outSpec, err)
	}
	return src, sink, nil
}

// incomingLoop takes the calls that ring and runs each until it ends.
func (n *Node) incomingLoop() {
	defer n.wg.Done()
	for sc := range n.sig.Incoming() {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.runIncoming(sc)
		}()
	}
}

// runIncoming rings (or auto-answers) an incoming call and runs it.
func (n *Node) runIncoming(sc *signalling.Call) {
	id, _ := peer.Decode(sc.RemotePeer())
	r := &callRun{n: n, sc: sc, peerName: sc.RemoteUsername(), peerID: id, started: time.Now(),
		state: "ringing", answerCh: make(chan bool, 1), ended: make(chan struct{})}
	n.calls.add(r)
	r.emit("incoming", nil)
	accept := n.opts.AutoAnswer
	if !accept {
		accept = r.waitAnswer()
	}
	var res *CallResult
	if accept {
		res = r.accept()
	} else {
		hctx, cancel := context.WithTimeout(n.ctx, hangupTimeout)
		_ = sc.Reject(hctx, "")
		cancel()
		<-sc.Done()
		res = r.result()
	}
	n.calls.remove(r, res)
	close(r.ended)
	r.emit("ended", res)
}

// waitAnswer waits for Answer/Reject, the caller's CANCEL or the ring
// timeout (both end the call) and reports whether to accept.
func (r *callRun) waitAnswer() bool {
	for {
		select {
		case ok := <-r.answerCh:
			return ok
		case ev, ok := <-r.sc.Events():
			if !ok || ev.Kind == signalling.EventEnded {
				return false
			}
		case <-r.n.ctx.Done():
			return false
		}
	}
}

// accept answers a ringing call and runs it to its end.
func (r *callRun) accept() *CallResult {
	n := r.n
	ctx := n.ctx
	mcfg, relayID, err := n.mediaConfig(ctx, r.peerID, false)
	var sess *media.Session
	if err == nil {
		r.relayID = relayID
		sess, err = media.New(ctx, mcfg)
	}
	if err != nil {
		r.setMediaErr(err)
		hctx, cancel := context.WithTimeout(ctx, hangupTimeout)
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
	if err == nil {
		err = r.sc.Accept(actx, answer)
	}
	cancel()
	if err != nil {
		r.setMediaErr(err)
		hctx, cancel := context.WithTimeout(ctx, hangupTimeout)
		_ = r.sc.Hangup(hctx, "could not answer: "+err.Error())
		cancel()
		<-r.sc.Done()
		return r.result()
	}
	return r.run(ctx)
}

// Answer accepts the ringing incoming call id ("" for the only call).
func (n *Node) Answer(id string) error { return n.answer(id, true) }

// Reject declines the ringing incoming call id ("" for the only call).
func (n *Node) Reject(id string) error { return n.answer(id, false) }

func (n *Node) answer(id string, ok bool) error {
	r, err := n.calls.find(id)
	if err != nil {
		return err
	}
	if r.outgoing || r.answerCh == nil {
		return fmt.Errorf("%w: call %s is outgoing; only incoming calls are answered", ErrNoSuchCall, r.sc.ID())
	}
	select {
	case r.answerCh <- ok:
		return nil
	default:
		return fmt.Errorf("call %s is already answered", r.sc.ID())
	}
}

// Hangup ends the call id ("" for the only call), whatever its state.
func (n *Node) Hangup(ctx context.Context, id string) error {
	r, err := n.calls.find(id)
	if err != nil {
		return err
	}
	if r.answerCh != nil {
		select {
		case r.answerCh <- false:
		default:
		}
	}
	if err := r.sc.Hangup(ctx, ""); err != nil {
		return err
	}
	// Return once the call has ended here too, so that a call placed right
	// after a hangup does not find the old one still holding the line.
	wait := time.NewTimer(hangupTimeout)
	defer wait.Stop()
	select {
	case <-r.ended:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("hung up call %s, but it had not ended yet: %w", r.sc.ID(), ctx.Err())
	case <-wait.C:
		return fmt.Errorf("hung up call %s, but it had not ended after %v; check `peercall status`", r.sc.ID(), hangupTimeout)
	}
}

// RestartICE renews the network path of the active call id ("" for the
// only call) after a network change: a new offer with fresh ICE
// credentials and candidates goes to the peer, whose answer is applied when
// it arrives. The DTLS session, and so the SAS, stay the same.
func (n *Node) RestartICE(ctx context.Context, id string) error {
	r, err := n.calls.find(id)
	if err != nil {
		return err
	}
	r.mu.Lock()
	sess, active := r.sess, r.state == "active"
	r.mu.Unlock()
	if !active || sess == nil {
		return fmt.Errorf("call %s is not active; only an active call's path can be renewed", r.sc.ID())
	}
	offer, err := sess.RestartICEOffer(ctx)
	if err != nil {
		return err
	}
	return r.sc.RestartICE(ctx, offer)
}
