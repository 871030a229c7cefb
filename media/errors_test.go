package media

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/peercall/peercall/audio"
)

// foreignOffer makes an offer from a plain pion PeerConnection that speaks
// only the given codec (a client we cannot talk to).
func foreignOffer(t *testing.T, ctx context.Context, codec webrtc.RTPCodecParameters, kind webrtc.RTPCodecType) string {
	t.Helper()
	var me webrtc.MediaEngine
	if err := me.RegisterCodec(codec, kind); err != nil {
		t.Fatal(err)
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(&me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if _, err := pc.AddTransceiverFromKind(kind); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		t.Fatal("gathering timed out")
	}
	return pc.LocalDescription().SDP
}

func TestAcceptRefusesBadOffers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	good := func() string {
		s, err := New(ctx, loopbackConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		o, err := s.CreateOffer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}()
	var noFingerprint []string
	for _, l := range strings.Split(good, "\r\n") {
		if !strings.HasPrefix(l, "a=fingerprint") {
			noFingerprint = append(noFingerprint, l)
		}
	}
	pcmu := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, PayloadType: 0}
	vp8 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	tests := []struct {
		name  string
		offer string
		want  error
	}{
		{"empty", "", ErrBadSDP},
		{"garbage", "hello, I am not SDP", ErrBadSDP},
		{"truncated", good[:len(good)/3], ErrBadSDP},
		{"oversized", good + strings.Repeat("a=x-pad:0123456789\r\n", MaxSDPBytes/20), ErrBadSDP},
		{"no fingerprint", strings.Join(noFingerprint, "\r\n"), ErrBadSDP},
		{"only PCMU", foreignOffer(t, ctx, pcmu, webrtc.RTPCodecTypeAudio), ErrNoOpus},
		{"only video", foreignOffer(t, ctx, vp8, webrtc.RTPCodecTypeVideo), ErrNoOpus},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(ctx, loopbackConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, err = s.Accept(ctx, tc.offer)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Accept: got %v, want %v", err, tc.want)
			}
			t.Logf("refused: %v", err)
			// The session is still usable: a good offer is accepted.
			if _, err := s.Accept(ctx, good); err != nil {
				t.Errorf("after refusing, Accept(good offer): %v", err)
			}
		})
	}
}

func TestSetAnswerRefusesBadAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := New(ctx, loopbackConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateOffer(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAnswer("v=0\r\nnonsense"); !errors.Is(err, ErrBadSDP) {
		t.Errorf("SetAnswer(nonsense): got %v, want ErrBadSDP", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error naming the setting; "" for valid
	}{
		{"defaults", Config{}, ""},
		{"10ms", Config{FrameDuration: audio.Frame10ms}, ""},
		{"bad frame", Config{FrameDuration: 30 * time.Millisecond}, "FrameDuration"},
		{"bitrate low", Config{Bitrate: 5000}, "Bitrate"},
		{"bitrate high", Config{Bitrate: 200000}, "Bitrate"},
		{"loss", Config{ExpectedLossPercent: 101}, "ExpectedLossPercent"},
		{"ports half", Config{PortMin: 50000}, "port range"},
		{"ports reversed", Config{PortMin: 50010, PortMax: 50000}, "port range"},
		{"listen ip", Config{ListenIPs: []string{"localhost"}}, "ListenIPs"},
		{"ice url", Config{ICEServers: []webrtc.ICEServer{{URLs: []string{"http://x"}}}}, "ICEServers"},
		{"relay without turn", Config{RelayOnly: true, ICEServers: []webrtc.ICEServer{{URLs: []string{"stun:127.0.0.1:3478"}}}}, "RelayOnly"},
		{"relay with turn", Config{RelayOnly: true, ICEServers: []webrtc.ICEServer{{URLs: []string{"turn:127.0.0.1:3478"}, Username: "u", Credential: "p"}}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.withDefaults().validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("valid config refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// TestDeviceFailureEndsCall: a microphone or speaker that fails mid-call
// ends the call with an error wrapping ErrDevice (and the device's error),
// never a hang or a panic.
func TestDeviceFailureEndsCall(t *testing.T) {
	tests := []struct {
		name       string
		sourceFail int // frames before a's microphone fails
		sinkFail   int // frames before b's speaker fails
		failing    string
	}{
		{"microphone", 25, 0, "a"},
		{"speaker", 0, 25, "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			a, b := pair(t, ctx, loopbackConfig(), loopbackConfig())
			samples := speechSeconds("alice", 2, audio.Frame20ms)
			srcA := &sliceSource{samples: samples, interval: audio.Frame20ms, failAfter: tc.sourceFail}
			srcB := &sliceSource{samples: samples, interval: audio.Frame20ms}
			sinkA, sinkB := &sliceSink{}, &sliceSink{failAfter: tc.sinkFail}
			if err := startBoth(ctx, a, b, srcA, srcB, sinkA, sinkB); err != nil {
				t.Fatal(err)
			}
			failing := a
			if tc.failing == "b" {
				failing = b
			}
			select {
			case <-failing.Done():
			case <-ctx.Done():
				t.Fatal("the call did not end after the device failed")
			}
			err := failing.Err()
			if !errors.Is(err, ErrDevice) || !errors.Is(err, errDeviceGone) {
				t.Fatalf("Err() = %v, want ErrDevice wrapping the device's error", err)
			}
			t.Logf("call ended: %v", err)
			if err := failing.Close(); err != nil {
				t.Errorf("Close after failure: %v", err)
			}
		})
	}
}

func TestStartMisuse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := New(ctx, loopbackConfig())
	if err != nil {
		t.Fatal(err)
	}
	src, sink := &sliceSource{}, &sliceSink{}
	if err := s.Start(ctx, src, sink); err == nil {
		t.Error("Start before the SDP exchange succeeded")
	}
	if err := s.Start(ctx, nil, sink); err == nil {
		t.Error("Start without a source succeeded")
	}
	s.Close()
	if err := s.Start(ctx, src, sink); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: got %v, want ErrClosed", err)
	}
	if _, err := s.CreateOffer(ctx); err == nil {
		t.Error("CreateOffer after Close succeeded")
	}
}

// TestStartTimesOutWithoutPeer: Start waits for the connection only as
// long as its context allows.
func TestStartTimesOutWithoutPeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := New(ctx, loopbackConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(ctx, loopbackConfig())
	if err != nil {
		t.Fatal(err)
	}
	offer, err := a.CreateOffer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := b.Accept(ctx, offer)
	if err != nil {
		t.Fatal(err)
	}
	b.Close() // the peer goes away before connecting
	if err := a.SetAnswer(answer); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancelShort()
	if err := a.Start(short, &sliceSource{}, &sliceSink{}); !errors.Is(err, ErrConnectionFailed) {
		t.Errorf("Start with no peer: got %v, want ErrConnectionFailed", err)
	}
}

// TestCloseLeavesNoGoroutine runs a short call and checks that Close
// stops everything the sessions started.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := New(ctx, loopbackConfig())
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(ctx, loopbackConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := negotiate(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	samples := speechSeconds("bob", 0.5, audio.Frame20ms)
	sinkB := &sliceSink{}
	if err := startBoth(ctx, a, b, &sliceSource{samples: samples, interval: audio.Frame20ms}, &sliceSource{samples: samples, interval: audio.Frame20ms}, &sliceSink{}, sinkB); err != nil {
		t.Fatal(err)
	}
	for len(sinkB.got()) < len(samples)/2 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.Close(); err != nil {
		t.Error(err)
	}
	if err := b.Close(); err != nil {
		t.Error(err)
	}
}
