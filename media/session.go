package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peercall/peercall/internal/pionlog"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/media/jitterbuf"
	"github.com/peercall/peercall/media/pathswitch"
)

// Errors returned by the session.
var (
	// ErrClosed: the session was closed.
	ErrClosed = errors.New("media: session closed")
	// ErrConnectionFailed: ICE/DTLS could not connect or the connection
	// was lost.
	ErrConnectionFailed = errors.New("media: connection failed")
	// ErrDevice: the capture or playback device failed mid-call.
	ErrDevice = errors.New("media: audio device failed")
)

// opusCodec is the only codec a session offers and accepts: Opus, 48 kHz,
// with in-band FEC announced so that peers send it too.
var opusCodec = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType:    webrtc.MimeTypeOpus,
		ClockRate:   audio.SampleRate,
		Channels:    2, // as RFC 7587 requires in SDP; we send mono
		SDPFmtpLine: "minptime=10;useinbandfec=1",
	},
	PayloadType: 111,
}

// Session is one call's media: a PeerConnection with one Opus track each
// way. Create it with New, exchange the SDP once (CreateOffer on the
// caller, Accept on the callee, SetAnswer back on the caller), then Start
// the audio. Close stops everything the session started.
type Session struct {
	cfg    Config
	log    *slog.Logger
	pc     *webrtc.PeerConnection
	track  *webrtc.TrackLocalStaticRTP
	sender *webrtc.RTPSender
	tcpMux ice.TCPMux
	stdnet *stdnet.Net // the interfaces ICE gathers on (nil with Config.Net)

	ctx    context.Context // ends on Close or when the call fails
	cancel context.CancelFunc
	wg     sync.WaitGroup

	pathEvents  chan PathEvent    // ICE path lost / restored, for the call's owner
	watch       *pathswitch.Watch // the switch to a standby pair (standby.go)
	connected   chan struct{}     // closed once ICE+DTLS are up
	firstPacket chan struct{}     // closed when the first RTP packet arrived
	connOnce    sync.Once
	remoteTrack chan remoteTrack

	mu        sync.Mutex
	started   bool
	closed    bool
	err       error // why the call ended, when it failed
	remoteFP  string
	remoteSet bool

	done     chan struct{} // closed when the call ended (failure or Close)
	doneOnce sync.Once

	// set by Start (under mu) before its goroutines run
	jb        *jitterbuf.Buffer
	player    *player
	startedAt time.Time

	counters
}

// New builds a session's PeerConnection from cfg. ctx only bounds the
// construction; the session lives until Close.
func New(ctx context.Context, cfg Config) (*Session, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &Session{
		cfg:         cfg,
		log:         cfg.Logger.With("component", "media"),
		connected:   make(chan struct{}),
		firstPacket: make(chan struct{}),
		remoteTrack: make(chan remoteTrack, 1),
		pathEvents:  make(chan PathEvent, pathEventBuffer),
		watch:       pathswitch.New(cfg.Logger.With("component", "media")),
		done:        make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.buildPeerConnection(); err != nil {
		s.cancel()
		if s.tcpMux != nil {
			_ = s.tcpMux.Close()
		}
		return nil, err
	}
	return s, nil
}

func (s *Session) buildPeerConnection() error {
	cfg := s.cfg
	var me webrtc.MediaEngine
	if err := me.RegisterCodec(opusCodec, webrtc.RTPCodecTypeAudio); err != nil {
		return fmt.Errorf("media: register Opus: %w", err)
	}
	// Interceptors: RTCP sender/receiver reports only. No NACK
	// (retransmitted voice arrives too late to play), no TWCC (a fixed-rate
	// voice stream needs no congestion probing) and no stats interceptor:
	// it hands every packet to another goroutine, and the RTT and remote
	// loss we need are read straight from the peer's reports (rtcp.go).
	var reg interceptor.Registry
	if err := webrtc.ConfigureRTCPReports(&reg); err != nil {
		return fmt.Errorf("media: RTCP reports: %w", err)
	}

	var se webrtc.SettingEngine
	se.LoggerFactory = pionlog.New(s.log, pionlog.Session)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// Notice a dead path within seconds (pion's defaults are 5 s to
	// disconnected and 25 s to failed), so that a call whose relay died can
	// move to another before the user gives up.
	se.SetICETimeouts(ICEDisconnectedTimeout, ICEFailedTimeout, ICEKeepaliveInterval)
	pathswitch.Setup(&se, s.watch, cfg.RelayOnly)
	// pion waits 0.5 s (server-reflexive), 1 s (peer-reflexive) and 2 s
	// (relay) before it nominates such a pair, in case a better one
	// succeeds meanwhile; a call set-up waits for that on every path
	// through a NAT. Shorter waits (path.go) still let a direct pair that
	// answers within them win over a relay.
	se.SetSrflxAcceptanceMinWait(SrflxAcceptanceWait)
	se.SetPrflxAcceptanceMinWait(PrflxAcceptanceWait)
	se.SetRelayAcceptanceMinWait(RelayAcceptanceWait)
	if cfg.RelayOnly {
		// Every local candidate is a relay: pion's waits before
		// nominating a relay (2 s), peer-reflexive (1 s) or
		// server-reflexive (0.5 s) pair only delay the call (and a
		// failover's ICE restart) without a better path to wait for.
		se.SetRelayAcceptanceMinWait(RelayOnlyAcceptanceWait)
		se.SetPrflxAcceptanceMinWait(RelayOnlyAcceptanceWait)
		se.SetSrflxAcceptanceMinWait(RelayOnlyAcceptanceWait)
	}
	if cfg.Net != nil {
		se.SetNet(cfg.Net)
	} else if n, err := stdnet.NewNet(); err == nil {
		// Our own copy of the interface list, so that an ICE restart after
		// a network change gathers on the interfaces of now
		// (refreshInterfaces): pion reads them once per agent.
		se.SetNet(n)
		s.stdnet = n
	}
	if cfg.ICEProxyDialer != nil {
		se.SetICEProxyDialer(cfg.ICEProxyDialer)
	}
	if cfg.PortMin != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.PortMin, cfg.PortMax); err != nil {
			return fmt.Errorf("media: UDP port range %d-%d: %w", cfg.PortMin, cfg.PortMax, err)
		}
	}
	if len(cfg.ListenIPs) > 0 || cfg.ListenIPsNow != nil {
		listenIPs := func() []string { return cfg.ListenIPs }
		if cfg.ListenIPsNow != nil {
			listenIPs = cfg.ListenIPsNow
		}
		loopback := false
		for _, a := range listenIPs() {
			loopback = loopback || net.ParseIP(a).IsLoopback()
		}
		se.SetIncludeLoopbackCandidate(loopback)
		se.SetIPFilter(func(ip net.IP) bool {
			allowed := listenIPs()
			for _, a := range allowed {
				if net.ParseIP(a).Equal(ip) {
					return true
				}
			}
			return len(allowed) == 0
		})
	}
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.ICETCP {
		mux, err := s.listenICETCP()
		if err != nil {
			return err
		}
		s.tcpMux = mux
		se.SetICETCPMux(mux)
		types = append(types, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
		if cfg.tcpOnly {
			types = types[2:]
		}
	}
	se.SetNetworkTypes(types)

	api := webrtc.NewAPI(webrtc.WithMediaEngine(&me), webrtc.WithInterceptorRegistry(&reg), webrtc.WithSettingEngine(se))
	policy := webrtc.ICETransportPolicyAll
	if cfg.RelayOnly {
		policy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		ICEServers:         cfg.ICEServers,
		ICETransportPolicy: policy,
		BundlePolicy:       webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy:      webrtc.RTCPMuxPolicyRequire,
	})
	if err != nil {
		return fmt.Errorf("media: create peer connection: %w", err)
	}
	s.pc = pc
	track, err := webrtc.NewTrackLocalStaticRTP(opusCodec.RTPCodecCapability, "audio", "peercall")
	if err != nil {
		_ = pc.Close()
		return fmt.Errorf("media: create audio track: %w", err)
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		_ = pc.Close()
		return fmt.Errorf("media: add audio track: %w", err)
	}
	s.track, s.sender = track, sender
	s.sender.Transport().ICETransport().OnSelectedCandidatePairChange(s.watch.Selected)
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		if t.Kind() != webrtc.RTPCodecTypeAudio {
			return
		}
		select {
		case s.remoteTrack <- remoteTrack{t, r}:
		default: // a second audio track: ignore it
		}
	})
	pc.OnICEConnectionStateChange(s.onICEState)
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.log.Debug("connection state", "state", st.String())
		switch st {
		case webrtc.PeerConnectionStateConnected:
			s.connOnce.Do(func() { close(s.connected) })
		case webrtc.PeerConnectionStateFailed:
			s.fail(fmt.Errorf("%w: ICE or DTLS failed (no path to the peer: check firewalls, or use a relay)", ErrConnectionFailed))
		}
	})
	return nil
}

// listenICETCP opens one TCP listener for ICE-TCP on the first listen
// address (all interfaces when none is configured).
func (s *Session) listenICETCP() (ice.TCPMux, error) {
	host := "0.0.0.0"
	if len(s.cfg.ListenIPs) > 0 {
		host = s.cfg.ListenIPs[0]
	}
	addr := net.JoinHostPort(host, strconv.Itoa(int(s.cfg.PortMin)))
	var l net.Listener
	var err error
	if s.cfg.Net != nil {
		var ta *net.TCPAddr
		if ta, err = net.ResolveTCPAddr("tcp", addr); err == nil {
			l, err = s.cfg.Net.ListenTCP("tcp", ta)
		}
	} else {
		l, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("media: ICE-TCP listener on %s: %w (is the port free?)", addr, err)
	}
	return webrtc.NewICETCPMux(pionlog.New(s.log, pionlog.Session).NewLogger("ice-tcp"), l, 64), nil
}

// CreateOffer makes the caller's SDP offer. It waits for ICE gathering to
// complete so that the offer carries every candidate (signalling is one
// message each way).
func (s *Session) CreateOffer(ctx context.Context) (string, error) {
	if s.cfg.Trickle {
		offer, err := s.pc.CreateOffer(&webrtc.OfferOptions{OfferAnswerOptions: trickleOption})
		if err != nil {
			return "", fmt.Errorf("media: create offer: %w", err)
		}
		return s.setLocalAndGatherFor(ctx, offer, TrickleGatherWait)
	}
	offer, err := s.pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("media: create offer: %w", err)
	}
	return s.setLocalAndGather(ctx, offer)
}

// TrickleGatherWait is how long a trickle offer or answer waits for
// candidates: the host ones are ready by then, the others trickle.
const TrickleGatherWait = 30 * time.Millisecond

var trickleOption = webrtc.OfferAnswerOptions{ICETricklingSupported: true}

// PeerConnection is the session's pion connection, for trickle ICE
// (call/trickle.go: candidates in and out); renegotiate through the
// session only.
func (s *Session) PeerConnection() *webrtc.PeerConnection { return s.pc }

// FirstFrame is when the first frame decoded from the peer's audio was
// played (zero: none yet).
func (s *Session) FirstFrame() time.Time {
	if ns := s.firstFrame.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Accept takes the caller's offer and returns the callee's answer, again
// with every candidate in it. An offer that is malformed, too large, or
// offers no Opus audio is refused with ErrBadSDP or ErrNoOpus.
func (s *Session) Accept(ctx context.Context, offerSDP string) (string, error) {
	r, err := parseRemoteSDP(offerSDP)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	renegotiate := s.remoteSet // a re-offer: an ICE restart
	s.mu.Unlock()
	if renegotiate {
		s.refreshInterfaces()
		s.watch.Reset()
	}
	s.watch.Hide(r.hidden)
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offerSDP}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	s.setRemoteFingerprint(r.fingerprint)
	if s.cfg.Trickle && !renegotiate && s.pc.CanTrickleICECandidates() == webrtc.ICETrickleCapabilitySupported {
		answer, err := s.pc.CreateAnswer(&webrtc.AnswerOptions{OfferAnswerOptions: trickleOption})
		if err != nil {
			return "", fmt.Errorf("media: create answer: %w", err)
		}
		return s.setLocalAndGatherFor(ctx, answer, TrickleGatherWait)
	}
	answer, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("media: create answer: %w", err)
	}
	if renegotiate {
		return s.setLocalAndGatherFor(ctx, answer, RestartGatherWait)
	}
	return s.setLocalAndGather(ctx, answer)
}

// SetAnswer applies the callee's answer on the caller's side.
func (s *Session) SetAnswer(answerSDP string) error {
	r, err := parseRemoteSDP(answerSDP)
	if err != nil {
		return err
	}
	s.watch.Hide(r.hidden)
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answerSDP}); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	s.setRemoteFingerprint(r.fingerprint)
	return nil
}

// RestartICEOffer makes a new offer with fresh ICE credentials (an ICE
// restart, after a network change); apply the answer with SetAnswer. While
// an earlier restart offer is unanswered (its signalling stream broke, and
// the call resumed on another) it returns that offer again.
func (s *Session) RestartICEOffer(ctx context.Context) (string, error) {
	if s.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		if d := s.pc.PendingLocalDescription(); d != nil {
			return d.SDP, nil
		}
	}
	s.refreshInterfaces()
	s.watch.Reset()
	offer, err := s.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		return "", fmt.Errorf("media: create ICE restart offer: %w", err)
	}
	return s.setLocalAndGatherFor(ctx, offer, RestartGatherWait)
}

// refreshInterfaces rereads the machine's interfaces before an ICE
// restart, so that its candidates are those of the network of now.
func (s *Session) refreshInterfaces() {
	if s.stdnet == nil {
		return
	}
	if err := s.stdnet.UpdateInterfaces(); err != nil {
		s.log.Warn("reread the network interfaces for an ICE restart; the old ones are used", "err", err)
	}
}

func (s *Session) setLocalAndGather(ctx context.Context, d webrtc.SessionDescription) (string, error) {
	return s.setLocalAndGatherFor(ctx, d, 0)
}

// setLocalAndGatherFor sets d and waits for ICE gathering to complete, or
// at most maxWait when it is not 0: a restart must not wait for a dead
// TURN server's allocation to time out, and takes the candidates gathered
// so far.
func (s *Session) setLocalAndGatherFor(ctx context.Context, d webrtc.SessionDescription, maxWait time.Duration) (string, error) {
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(d); err != nil {
		return "", fmt.Errorf("media: set local description: %w", err)
	}
	var bound <-chan time.Time
	if maxWait > 0 {
		t := time.NewTimer(maxWait)
		defer t.Stop()
		bound = t.C
	}
	select {
	case <-gathered:
	case <-bound:
		if maxWait > TrickleGatherWait {
			s.log.Info("ICE gathering not complete; sending the candidates gathered so far", "waited", maxWait)
		}
	case <-ctx.Done():
		return "", fmt.Errorf("media: gathering ICE candidates: %w", ctx.Err())
	case <-s.ctx.Done():
		return "", ErrClosed
	}
	return s.pc.LocalDescription().SDP, nil
}

func (s *Session) setRemoteFingerprint(fp string) {
	s.mu.Lock()
	s.remoteFP, s.remoteSet = fp, true
	s.mu.Unlock()
}

// LocalFingerprint is our DTLS certificate fingerprint as our SDP states it
// ("sha-256 AB:CD:..."), empty before CreateOffer/Accept.
func (s *Session) LocalFingerprint() string {
	if d := s.pc.LocalDescription(); d != nil {
		return fingerprintOf(d.SDP)
	}
	return ""
}

// RemoteFingerprint is the peer's DTLS fingerprint from its SDP. DTLS
// refuses a peer whose certificate does not match it, so when the SDP came
// over an authenticated channel, both fingerprints together can be shown
// as a short authentication string.
func (s *Session) RemoteFingerprint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remoteFP
}

// Done is closed when the call's media ended: Close, a failed connection,
// or a failed device. Err says why.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the media ended (nil while running or after a plain
// Close).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// fail ends the call with err (the first failure wins).
func (s *Session) fail(err error) {
	s.mu.Lock()
	if s.err == nil && !s.closed {
		s.err = err
		s.log.Error("call media failed", "err", err)
	}
	s.mu.Unlock()
	s.cancel()
	s.doneOnce.Do(func() { close(s.done) })
}

// Close stops the audio, closes the connection and waits for every
// goroutine the session started. It does not close the Source and Sink.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	err := s.pc.Close() // ends ReadRTP/Read in the receive and RTCP loops
	if s.tcpMux != nil {
		if cerr := s.tcpMux.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	s.wg.Wait()
	s.doneOnce.Do(func() { close(s.done) })
	if err != nil {
		return fmt.Errorf("media: close peer connection: %w", err)
	}
	return nil
}

// remoteTrack is the peer's audio track and its receiver.
type remoteTrack struct {
	track    *webrtc.TrackRemote
	receiver *webrtc.RTPReceiver
}

// counters are the session's own traffic counters.
type counters struct {
	packetsSent, bytesSent         atomic.Uint64
	packetsReceived, bytesReceived atomic.Uint64
	packetsDropped                 atomic.Uint64 // by the test loss shim
	framesCaptured, framesPlayed   atomic.Uint64
	maxSlip                        atomic.Int64  // worst playout clock lateness, ns
	longestGap                     atomic.Int64  // longest wait between received packets, ns (noteGap)
	lastArrival                    atomic.Int64  // the last packet's arrival while playing, Unix ns (0: none)
	ticks                          atomic.Int64  // lock-step playout ticks played (jbNow)
	rttNs                          atomic.Int64  // last RTT from the peer's reports
	remoteLost                     atomic.Int64  // cumulative loss of our packets the peer reports
	sendBps, recvBps               atomic.Uint64 // payload bitrates over the last stats interval
	ratesSet                       atomic.Bool
	sendOff, playOff               atomic.Bool   // mute and hold (hold.go)
	framesWithheld                 atomic.Uint64 // captured but not sent (hold.go)
	firstFrame                     atomic.Int64  // Unix ns of the first frame played from the peer's audio
}
