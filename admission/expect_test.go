package admission

import (
	"errors"
	"fmt"
	"testing"

	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/crypto"
)

// TestExpectOutboundBudget: libp2p reserves an outbound connection in the
// peer's scope per address it dials in parallel. An uncertified peer gets
// Uncertified.ConnsOutbound of them; a peer this node Expects (a callee
// whose certificate it verified) gets the certified budget, and only while
// expected, as does one whose certificate the host cache holds
// (Config.Known: a chat or contacts dial after a restart, which a call's
// dial may join); neither expecting nor knowing certifies.
func TestExpectOutboundBudget(t *testing.T) {
	d := newDir(t)
	n := d.node(t, Limits{}, false)
	rm := n.h.Network().ResourceManager()
	capOut := DefaultLimits().Uncertified.ConnsOutbound
	tests := []struct {
		name          string
		expect, known bool
		dials         int
		want          int // reservations granted
	}{
		{"uncertified, not expected", false, false, capOut + 3, capOut},
		{"expected callee", true, false, capOut + 3, capOut + 3},
		{"certificate in the host cache", false, true, capOut + 3, capOut + 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := randomPeer(t)
			if tc.expect {
				done := n.adm.Expect(p)
				defer done()
			}
			if tc.known {
				n.known.Store(p, true)
			}
			granted := 0
			var scopes []network.ConnManagementScope
			defer func() {
				for _, s := range scopes {
					s.Done()
				}
			}()
			for i := range tc.dials {
				s, err := rm.OpenConnection(network.DirOutbound, false, ma.StringCast(fmt.Sprintf("/ip4/198.51.100.7/udp/%d/quic-v1", 4000+i)))
				if err != nil {
					t.Fatalf("open connection %d: %v", i, err)
				}
				scopes = append(scopes, s)
				if err := s.SetPeer(p); err != nil {
					if !errors.Is(err, network.ErrResourceLimitExceeded) {
						t.Fatalf("dial %d: %v, want ErrResourceLimitExceeded or success", i, err)
					}
					continue
				}
				granted++
			}
			if granted != tc.want {
				t.Errorf("%d of %d parallel dials got a connection slot, want %d", granted, tc.dials, tc.want)
			}
			if n.adm.Certified(p) {
				t.Error("an expected or known peer counts as certified; only its hello may certify it")
			}
		})
	}
}

// TestExpectDone: the certified budget ends with done (called twice, it
// still releases one expectation only).
func TestExpectDone(t *testing.T) {
	d := newDir(t)
	n := d.node(t, Limits{}, false)
	p := randomPeer(t)
	first, second := n.adm.Expect(p), n.adm.Expect(p)
	first()
	first()
	if !n.adm.expecting(p) {
		t.Fatal("one of two expectations released twice ended both")
	}
	second()
	if n.adm.expecting(p) {
		t.Fatal("still expected after both expectations ended")
	}
}

func randomPeer(t *testing.T) peer.ID {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ic.UnmarshalEd25519PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
