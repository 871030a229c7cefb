package call

import (
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/media"
	"github.com/peercall/peercall/signalling"
)

func TestEndError(t *testing.T) {
	res := func(connected bool) *Result {
		return &Result{Summary: Summary{Peer: "bob"}, Connected: connected, Detail: "why"}
	}
	for _, tc := range []struct {
		end       signalling.EndReason
		connected bool
		want      error // nil: no error
	}{
		{signalling.EndRejected, false, ErrRejected},
		{signalling.EndBusy, false, ErrBusy},
		{signalling.EndNoAnswer, false, ErrNoAnswer},
		{signalling.EndCertificateRejected, false, home.ErrCertificate},
		{signalling.EndGlare, false, ErrCallFailed},
		{signalling.EndMediaTimeout, false, ErrCallFailed},
		{signalling.EndMediaTimeout, true, nil},
		{signalling.EndConnectionLost, true, nil},
		{signalling.EndHangupLocal, true, nil},
	} {
		err := endError(tc.end, res(tc.connected))
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("%v (connected %t): %v, want no error", tc.end, tc.connected, err)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%v (connected %t): %v, want one wrapping %v", tc.end, tc.connected, err, tc.want)
		}
	}
}

type fakeRelays struct {
	Relays
	at map[string]peer.ID
}

func (f fakeRelays) SuperNodeAt(addr string) peer.ID { return f.at[addr] }

// TestRelayPeerID: the summary names this side's super-node when ICE chose
// this side's relay candidate, the peer's super-node (known at the relay's
// address) when it chose the peer's, and nothing for a direct route.
func TestRelayPeerID(t *testing.T) {
	mine, theirs := peer.ID("mine-super-node"), peer.ID("their-super-node")
	m := &Manager{cfg: Config{Relays: fakeRelays{at: map[string]peer.ID{"198.51.100.9:50010": theirs}}}}
	r := &run{m: m, relayID: mine}
	for _, tc := range []struct {
		name string
		rt   media.Route
		want peer.ID
	}{
		{"direct", media.Route{Kind: media.RouteDirect, LocalType: webrtc.ICECandidateTypeHost, RemoteType: webrtc.ICECandidateTypeSrflx}, ""},
		{"this side's relay", media.Route{Kind: media.RouteRelay, LocalType: webrtc.ICECandidateTypeRelay, RemoteType: webrtc.ICECandidateTypeHost, RelayAddr: "203.0.113.5:50001"}, mine},
		{"the peer's relay", media.Route{Kind: media.RouteRelay, LocalType: webrtc.ICECandidateTypeHost, RemoteType: webrtc.ICECandidateTypeRelay, RelayAddr: "198.51.100.9:50010"}, theirs},
		{"an unknown relay", media.Route{Kind: media.RouteRelay, LocalType: webrtc.ICECandidateTypeHost, RemoteType: webrtc.ICECandidateTypeRelay, RelayAddr: "192.0.2.1:50000"}, ""},
	} {
		if got := r.relayPeerID(tc.rt); got != tc.want.String() && !(tc.want == "" && got == "") {
			t.Errorf("%s: relay_peer_id %q, want %q", tc.name, got, tc.want)
		}
	}
}
