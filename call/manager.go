package call

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/dsp"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/media"
	"github.com/peercall/peercall/presence"
	"github.com/peercall/peercall/signalling"
)

// Call timeouts.
const (
	// mediaStartTimeout bounds ICE and DTLS after the answer.
	mediaStartTimeout = 20 * time.Second
	// HangupTimeout bounds the HANGUP/CANCEL message, and the wait for the
	// call to end after it.
	HangupTimeout = 5 * time.Second
	// maxRecentCalls is how many ended calls status remembers.
	maxRecentCalls = 10
)

// Peer is a user a call goes to: found, verified and connected (the node's
// lookup and libp2p dial).
type Peer struct {
	Username string
	ID       peer.ID
}

// Relays is the super-node side a relayed call needs: TURN servers for a
// call, and another super-node when the call's one is lost.
type Relays interface {
	// CallRelay returns the TURN servers of a call with callee and the
	// super-node that issued them (none, without error, when the call can
	// go direct); relayOnly when the call must use relay candidates.
	CallRelay(ctx context.Context, callee peer.ID, force bool) (servers []webrtc.ICEServer, relayID peer.ID, relayOnly bool, err error)
	// Replace forgets the super-node dead and returns another's TURN
	// servers for a call with callee (with need, a lookup of super-nodes
	// is waited for when none is known).
	Replace(ctx context.Context, callee, dead peer.ID, need bool) ([]webrtc.ICEServer, peer.ID, error)
	// Alive reports whether super-node p answers a ping within timeout.
	Alive(ctx context.Context, p peer.ID, timeout time.Duration) bool
	// SuperNodeAt names the known super-node at TURN address addr
	// (host:port), or "".
	SuperNodeAt(addr string) peer.ID
}

// AudioOpener opens the devices of one call.
type AudioOpener func(ctx context.Context, c Info) (audio.Source, audio.Sink, error)

// Config wires a Manager to its node. Signalling, Self, Resolve and
// Certificate are required.
type Config struct {
	Signalling *signalling.Manager
	// Self is this node's peer ID.
	Self peer.ID
	// Resolve finds username and connects to their node.
	Resolve func(ctx context.Context, username string) (Peer, error)
	// Certificate is the node's current directory certificate.
	Certificate func() (*crypto.Certificate, error)
	// Media is the base media configuration of every call (ports, bitrate,
	// listen IPs).
	Media media.Config
	// ICEServers, when set, supplies each call's STUN/TURN servers instead
	// of Relays (tests).
	ICEServers func(ctx context.Context, callee peer.ID) ([]webrtc.ICEServer, error)
	// Relays is the relay client (nil: direct calls only).
	Relays Relays
	// AudioIn and AudioOut are the default device specs (default
	// "default"); Audio, when set, opens each call's devices instead.
	AudioIn, AudioOut string
	Audio             AudioOpener
	// DSP is the processing of every call's microphone (DSPConfig of
	// config.toml's [audio]); sound cards only, unless DSPVirtual, since
	// virtual microphones (and Audio's devices) have no room.
	DSP        dsp.Config
	DSPVirtual bool
	// AutoAnswer accepts every incoming call that passes the certificate
	// check.
	AutoAnswer bool
	// OnCall receives the progress of every call, incoming and outgoing.
	OnCall func(Event)
	// Screen, when set, decides each incoming call before it rings: a call
	// it does not let ring is rejected with the reason it gives (the
	// contact list's privacy setting, do not disturb).
	Screen func(username string) (ring bool, reason string)
	Logger *slog.Logger
}

// Manager runs a node's calls: outgoing ones (Call), the incoming ones
// signalling hands it (rung, or answered with AutoAnswer), and what the
// control socket asks of them (Answer, Reject, Hangup, RestartICE).
type Manager struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	active  map[string]*run
	recent  []Result
	movedAt time.Time // the last network change (NetworkChanged)
}

// New starts taking the incoming calls of cfg.Signalling.
func New(cfg Config) (*Manager, error) {
	if cfg.Signalling == nil || cfg.Resolve == nil || cfg.Certificate == nil || cfg.Self == "" {
		return nil, errors.New("call manager: signalling, self, resolve and certificate are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Manager{cfg: cfg, log: cfg.Logger, active: map[string]*run{}}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.wg.Add(1)
	go m.incomingLoop()
	return m, nil
}

// Close ends the incoming calls' waits and waits for every call goroutine.
// Close the signalling manager first: that ends the calls and the loop.
func (m *Manager) Close() error {
	m.cancel()
	m.wg.Wait()
	return nil
}

func (m *Manager) add(r *run) {
	m.mu.Lock()
	m.active[r.sc.ID().String()] = r
	m.mu.Unlock()
}

func (m *Manager) remove(r *run, res *Result) {
	m.mu.Lock()
	delete(m.active, r.sc.ID().String())
	if res != nil {
		m.recent = append(m.recent, *res)
		if len(m.recent) > maxRecentCalls {
			m.recent = m.recent[len(m.recent)-maxRecentCalls:]
		}
	}
	m.mu.Unlock()
}

// find returns the call with id, or the only call when id is empty.
func (m *Manager) find(id string) (*run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id != "" {
		r, ok := m.active[id]
		if !ok {
			return nil, fmt.Errorf("%w %q; list the calls with `peercall status`", ErrNoSuchCall, id)
		}
		return r, nil
	}
	if len(m.active) != 1 {
		return nil, fmt.Errorf("%w: %d calls go on; name one by its call_id", ErrNoSuchCall, len(m.active))
	}
	for _, r := range m.active {
		return r, nil
	}
	return nil, ErrNoSuchCall
}

// Calls returns the calls going on.
func (m *Manager) Calls() []Info {
	m.mu.Lock()
	runs := make([]*run, 0, len(m.active))
	for _, r := range m.active {
		runs = append(runs, r)
	}
	m.mu.Unlock()
	out := make([]Info, 0, len(runs))
	for _, r := range runs {
		out = append(out, r.info())
	}
	return out
}

// Recent returns the latest ended calls, oldest first.
func (m *Manager) Recent() []Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Result(nil), m.recent...)
}

// mediaConfig is the media configuration of a call with p, and the
// super-node that gave its TURN credentials.
func (m *Manager) mediaConfig(ctx context.Context, p peer.ID, forceRelay bool) (media.Config, peer.ID, error) {
	cfg := m.cfg.Media
	cfg.Logger = m.log
	cfg.RelayOnly = cfg.RelayOnly || forceRelay
	switch {
	case m.cfg.ICEServers != nil:
		servers, err := m.cfg.ICEServers(ctx, p)
		if err != nil {
			m.log.Warn("no relay (TURN) servers for this call; trying direct paths only", "err", err)
		}
		cfg.ICEServers = servers
		return cfg, "", nil
	case m.cfg.Relays == nil:
		if forceRelay {
			return cfg, "", fmt.Errorf("the call must go through a relay, but this node runs no relay client")
		}
		return cfg, "", nil
	}
	servers, relayID, relayOnly, err := m.cfg.Relays.CallRelay(ctx, p, forceRelay)
	if err != nil {
		return cfg, "", err
	}
	cfg.ICEServers = append(cfg.ICEServers, servers...)
	cfg.RelayOnly = cfg.RelayOnly || relayOnly
	return cfg, relayID, nil
}

// Call calls username and blocks until the call ends: it looks the user up
// and connects (Config.Resolve), sends INVITE with an SDP offer, waits for
// the answer, runs the audio, and hangs up after o.Duration or when ctx
// ends (Ctrl-C). It returns the call's result, and an error wrapping
// ErrRejected, ErrBusy, ErrNoAnswer or ErrCallFailed (or the lookup's
// error) when the call did not happen.
func (m *Manager) Call(ctx context.Context, username string, o Options) (*Result, error) {
	start := time.Now()
	ph := newPhases(start)
	if err := m.checkAudio(ctx, o); err != nil {
		return nil, err
	}
	ph.mark("audio_check")
	if err := CheckDSPOff(o.DSPOff); err != nil {
		return nil, err
	}
	// The relay credentials, the session and its offer are made while
	// the callee is looked up and dialled, not after (prepare).
	pctx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	prep := m.prepare(pctx, o.ForceRelay)
	p, err := m.cfg.Resolve(ctx, username)
	if err == nil && p.ID == m.cfg.Self {
		err = fmt.Errorf("%s is this node's own user; call someone else", p.Username)
	}
	if err != nil {
		pcancel()
		if pr := <-prep; pr.sess != nil {
			_ = pr.sess.Close()
		}
		return nil, err
	}
	ph.mark("resolve")
	pr := <-prep
	ph.mark("media_ready")
	ph.note("relay_credentials", pr.relay)
	ph.note("offer", pr.offerTook)
	if pr.sess != nil {
		defer pr.sess.Close()
	}
	if pr.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCallFailed, pr.err)
	}
	sess, relayID, offer := pr.sess, pr.relayID, pr.offer
	cert, err := m.cfg.Certificate()
	if err != nil {
		return nil, err
	}
	// A callee whose stream does not speak trickle ICE (an older peer)
	// gets the offer with every candidate, as before trickle.
	sc, err := m.cfg.Signalling.Call(ctx, p.ID.String(), signalling.Invite{Certificate: cert.Marshal(), SDP: offer, DisplayName: cert.Username, FullOffer: fullOffer(sess)})
	if err != nil {
		if errors.Is(err, signalling.ErrTooManyCalls) || errors.Is(err, signalling.ErrAlreadyInCall) {
			return nil, fmt.Errorf("%w: %w", ErrCallFailed, err)
		}
		return nil, fmt.Errorf("%w: call %s: %w", presence.ErrUserOffline, p.Username, err)
	}
	r := &run{m: m, sc: sc, sess: sess, dir: Outgoing, peerName: p.Username, peerID: p.ID, tr: pr.tr,
		relayID: relayID, started: start, opts: o, state: StateInviting, ended: make(chan struct{}), phases: ph}
	ph.mark("invite")
	m.add(r)
	res := r.run(ctx)
	m.remove(r, res)
	close(r.ended)
	r.emit(EventEnded, res)
	err = endError(sc.End(), res)
	r.mu.Lock()
	mediaErr := r.mediaErr
	r.mu.Unlock()
	if err == nil && !res.Connected && mediaErr != nil && ctx.Err() == nil {
		err = fmt.Errorf("%w: %s answered, but the audio could not start: %w", ErrCallFailed, res.Summary.Peer, mediaErr)
	}
	return res, err
}

// credentials are an incoming call's media configuration and the
// super-node that gave its TURN credentials.
type credentials struct {
	cfg     media.Config
	relayID peer.ID
	err     error
}

// prepared is what prepare made: an outgoing call's session and offer.
type prepared struct {
	sess             *media.Session
	tr               *trickle
	relayID          peer.ID
	offer            string
	relay, offerTook time.Duration // how long the credentials and the offer took
	err              error
}

// prepare gets an outgoing call's relay credentials, makes its session and
// its trickle offer (the candidates gathered within
// media.TrickleGatherWait), in a goroutine whose result the channel
// delivers once. The callee is not known yet: the super-node is picked as
// for any callee (CallRelay puts the callee's own last, a preference this
// gives up).
func (m *Manager) prepare(ctx context.Context, forceRelay bool) <-chan prepared {
	out := make(chan prepared, 1)
	go func() { // owned by Call, which always receives its result
		var pr prepared
		defer func() { out <- pr }()
		t0 := time.Now()
		mcfg, relayID, err := m.mediaConfig(ctx, "", forceRelay)
		pr.relay, pr.relayID = time.Since(t0), relayID
		if err != nil {
			pr.err = err
			return
		}
		mcfg.Trickle = true
		t1 := time.Now()
		if pr.sess, err = media.New(ctx, mcfg); err != nil {
			pr.err = fmt.Errorf("set up media: %w", err)
			return
		}
		pr.tr = newTrickle(pr.sess)
		if pr.offer, err = pr.sess.CreateOffer(ctx); err != nil {
			pr.err = fmt.Errorf("make the SDP offer: %w", err)
		}
		pr.offerTook = time.Since(t1)
	}()
	return out
}

// endError turns an outgoing call's end into the error Call returns.
func endError(end signalling.EndReason, res *Result) error {
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
		return fmt.Errorf("%w: %s refused our certificate%s; run `peercall login` to renew it", home.ErrCertificate, res.Summary.Peer, detail)
	case signalling.EndGlare:
		return fmt.Errorf("%w: %s called us at the same moment; their call goes on", ErrCallFailed, res.Summary.Peer)
	case signalling.EndMediaTimeout, signalling.EndConnectionLost, signalling.EndProtocolError:
		if !res.Connected {
			return fmt.Errorf("%w: %s%s", ErrCallFailed, end, detail)
		}
	}
	return nil
}

// openAudio opens a call's devices: Config.Audio when set, else the specs
// of the call or of the node (default: the sound card). Virtual sources
// are paced in real time.
func (m *Manager) openAudio(ctx context.Context, r *run) (audio.Source, audio.Sink, error) {
	if m.cfg.Audio != nil {
		return m.cfg.Audio(ctx, r.info())
	}
	in, out := orDefault(r.opts.AudioIn, m.cfg.AudioIn), orDefault(r.opts.AudioOut, m.cfg.AudioOut)
	inSpec, err := audio.ParseSpec(in)
	if err != nil {
		return nil, nil, fmt.Errorf("audio input: %w", err)
	}
	outSpec, err := audio.ParseSpec(out)
	if err != nil {
		return nil, nil, fmt.Errorf("audio output: %w", err)
	}
	return m.openLiveAudio(ctx, r, inSpec, outSpec)
}

// checkAudio validates a call's devices before anything is dialled: a bad
// WAV file, a named pipe or a missing sound card is reported at once, not
// after the callee has answered.
func (m *Manager) checkAudio(ctx context.Context, o Options) error {
	if m.cfg.Audio != nil {
		return nil
	}
	in, err := audio.ParseSpec(orDefault(o.AudioIn, m.cfg.AudioIn))
	if err == nil {
		err = audio.CheckSource(ctx, in)
	}
	if err != nil {
		return fmt.Errorf("%w: audio input (--audio-in): %w", ErrAudio, err)
	}
	out, err := audio.ParseSpec(orDefault(o.AudioOut, m.cfg.AudioOut))
	if err == nil {
		err = audio.CheckSink(ctx, out)
	}
	if err != nil {
		return fmt.Errorf("%w: audio output (--audio-out): %w", ErrAudio, err)
	}
	return nil
}

// orDefault is the first of specs that is set, else "default".
func orDefault(specs ...string) string {
	for _, s := range specs {
		if s != "" {
			return s
		}
	}
	return "default"
}

// incomingLoop takes the calls that ring and runs each until it ends.
func (m *Manager) incomingLoop() {
	defer m.wg.Done()
	for sc := range m.cfg.Signalling.Incoming() {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.runIncoming(sc)
		}()
	}
}

// runIncoming rings (or auto-answers) an incoming call and runs it.
func (m *Manager) runIncoming(sc *signalling.Call) {
	id, _ := peer.Decode(sc.RemotePeer())
	now := time.Now()
	r := &run{m: m, sc: sc, dir: Incoming, peerName: sc.RemoteUsername(), peerID: id, started: now,
		state: StateRinging, answerCh: make(chan bool, 1), ended: make(chan struct{}), phases: newPhases(now)}
	ring, reason := true, ""
	if m.cfg.Screen != nil {
		ring, reason = m.cfg.Screen(r.peerName)
	}
	m.add(r)
	// The relay credentials are asked for while the call rings, so that
	// the answer need not wait for them.
	creds := make(chan credentials, 1)
	if ring {
		m.wg.Add(1) // under runIncoming's own count: never from zero
		go func() {
			defer m.wg.Done()
			var c credentials
			c.cfg, c.relayID, c.err = m.mediaConfig(m.ctx, id, false)
			creds <- c
		}()
	}
	accept := false
	if ring {
		r.emit(EventIncoming, nil)
		accept = m.cfg.AutoAnswer || r.waitAnswer()
	} else {
		m.log.Info("incoming call refused", "from", r.peerName, "reason", reason)
	}
	var res *Result
	if accept {
		res = r.accept(creds)
	} else {
		hctx, cancel := context.WithTimeout(m.ctx, HangupTimeout)
		_ = sc.Reject(hctx, reason)
		cancel()
		<-sc.Done()
		res = r.result()
	}
	m.remove(r, res)
	close(r.ended)
	r.emit(EventEnded, res)
}

// Answer accepts the ringing incoming call id ("" for the only call).
func (m *Manager) Answer(id string) error { return m.answer(id, true) }

// Reject declines the ringing incoming call id ("" for the only call).
func (m *Manager) Reject(id string) error { return m.answer(id, false) }

func (m *Manager) answer(id string, ok bool) error {
	r, err := m.find(id)
	if err != nil {
		return err
	}
	if r.dir == Outgoing || r.answerCh == nil {
		return fmt.Errorf("%w: call %s is outgoing; only incoming calls are answered", ErrNoSuchCall, r.sc.ID())
	}
	select {
	case r.answerCh <- ok:
		return nil
	default:
		return fmt.Errorf("call %s is already answered", r.sc.ID())
	}
}

// Hangup ends the call id ("" for the only call), whatever its state, and
// returns once it has ended here too, so that a call placed right after a
// hangup does not find the old one still holding the line.
func (m *Manager) Hangup(ctx context.Context, id string) error {
	r, err := m.find(id)
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
	wait := time.NewTimer(HangupTimeout)
	defer wait.Stop()
	select {
	case <-r.ended:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("hung up call %s, but it had not ended yet: %w", r.sc.ID(), ctx.Err())
	case <-wait.C:
		return fmt.Errorf("hung up call %s, but it had not ended after %v; check `peercall status`", r.sc.ID(), HangupTimeout)
	}
}

// RestartICE renews the network path of the active call id ("" for the
// only call) after a network change: a new offer with fresh ICE
// credentials and candidates goes to the peer, whose answer is applied when
// it arrives. The DTLS session, and so the SAS, stay the same.
func (m *Manager) RestartICE(ctx context.Context, id string) error {
	r, err := m.find(id)
	if err != nil {
		return err
	}
	r.mu.Lock()
	sess, active := r.sess, r.state == StateActive
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
