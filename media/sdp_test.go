package media

import (
	"context"
	"testing"
	"time"
)

// FuzzParseRemoteSDP: the remote SDP is untrusted input. The parser must
// never panic, must refuse anything over MaxSDPBytes, and whatever it
// accepts must carry a fingerprint.
func FuzzParseRemoteSDP(f *testing.F) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := New(ctx, loopbackConfig())
	if err != nil {
		f.Fatal(err)
	}
	offer, err := s.CreateOffer(ctx)
	s.Close()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(offer)
	f.Add("")
	f.Add("v=0\r\n")
	f.Add("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 AB\r\na=ice-ufrag:x\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n")
	f.Add("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := parseRemoteSDP(in)
		if err != nil {
			return
		}
		if len(in) > MaxSDPBytes {
			t.Fatalf("accepted %d bytes, over the limit", len(in))
		}
		if r.fingerprint == "" {
			t.Fatal("accepted an SDP without a fingerprint")
		}
	})
}
