package pathswitch

import (
	"net"
	"slices"
	"testing"

	"github.com/pion/sdp/v3"
)

// TestNATHidden: the bases of a peer's srflx and relay candidates that
// differ from the candidate's own address are hidden (a relay cannot
// reach them); host candidates and a public host's srflx hide nothing.
func TestNATHidden(t *testing.T) {
	attrs := []sdp.Attribute{
		{Key: "candidate", Value: "1 1 udp 2130706431 198.19.1.2 50000 typ host"},
		{Key: "candidate", Value: "2 1 udp 1694498815 198.18.0.9 40000 typ srflx raddr 198.19.1.2 rport 50000"},
		{Key: "candidate", Value: "3 1 udp 16777215 198.18.0.4 50600 typ relay raddr 10.0.0.7 rport 51000"},
		{Key: "candidate", Value: "4 1 udp 1694498815 198.18.0.5 40001 typ srflx raddr 198.18.0.5 rport 40001"},
		{Key: "candidate", Value: "garbage"},
		{Key: "fingerprint", Value: "sha-256 00"},
	}
	got := NATHidden(attrs)
	if want := []string{"198.19.1.2", "10.0.0.7"}; !slices.Equal(got, want) {
		t.Fatalf("NATHidden = %v, want %v", got, want)
	}
	w := New(nil)
	w.Hide(got)
	if w.reachable(net.ParseIP("198.19.1.2")) || !w.reachable(net.ParseIP("198.18.0.9")) {
		t.Error("the remote filter keeps a hidden address or drops a public one")
	}
}
