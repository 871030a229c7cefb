package node_test

import (
	"context"
	"errors"
	"testing"
	"time"

	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/record"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/node"
	"github.com/peercall/peercall/presence"
	"github.com/peercall/peercall/signalling"
)

// TestImpersonation: mallory holds a valid certificate for mallory and
// bob's public certificate, and still cannot pass for bob: not in the DHT
// (her record with bob's certificate, and bob's record re-signed by her, are
// refused), and not on a call (her INVITE with bob's certificate is refused
// before anything rings). alice's call to bob still reaches bob.
func TestImpersonation(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU, malloryU := nw.User("alice"), nw.User("bob"), nw.User("mallory")
	start := func(u *callharness.User) *node.Node {
		o := callharness.NodeOptions()
		o.Audio = (&callharness.Audio{Send: callharness.Speech("alice", 1)}).Opener()
		o.AutoAnswer = true
		return nw.Start(u, o)
	}
	alice, bob, mallory := start(aliceU), start(bobU), start(malloryU)
	callharness.WaitPresence(t, alice, bob, mallory)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	bobCert, err := bobU.Home.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	malloryKey, _, err := malloryU.Home.IdentityKey()
	if err != nil {
		t.Fatal(err)
	}
	mpriv, err := ic.UnmarshalEd25519PrivateKey(malloryKey)
	if err != nil {
		t.Fatal(err)
	}
	key := presence.Key("bob")

	t.Run("presence with bob's certificate", func(t *testing.T) {
		p := &presence.Record{Certificate: bobCert, PeerID: mallory.PeerID(), Seq: uint64(time.Now().UnixNano()),
			Expires: time.Now().Add(time.Hour).Truncate(time.Second), Addrs: mallory.Addrs()}
		err := presence.Publish(ctx, mallory.DHT(), p)
		if !errors.Is(err, presence.ErrCertKeyMismatch) {
			t.Fatalf("mallory publishes presence for bob: %v, want ErrPresenceCertKeyMismatch", err)
		}
		env, err := record.Seal(p, mpriv)
		if err != nil {
			t.Fatal(err)
		}
		val, _ := env.Marshal()
		// What every honest node runs on a value it is asked to store.
		if err := alice.DHT().Validator().Validate(key, val); !errors.Is(err, presence.ErrCertKeyMismatch) {
			t.Errorf("alice's validator on mallory's record: %v, want ErrPresenceCertKeyMismatch", err)
		}
		if err := mallory.DHT().IpfsDHT.PutValue(ctx, key, val); err == nil {
			t.Errorf("the DHT stored mallory's record for bob")
		}
	})

	t.Run("bob's record replayed by mallory", func(t *testing.T) {
		val, err := alice.DHT().GetValue(ctx, key)
		if err != nil {
			t.Fatalf("bob's record: %v", err)
		}
		p, err := alice.DHT().Validator().Open(key, val)
		if err != nil || p.PeerID != bob.PeerID() {
			t.Fatalf("bob's record opens to %v, %v", p, err)
		}
		// The verbatim copy names bob's peer: replaying it leads to bob.
		// Re-signed by mallory, as hers or as bob's, it is refused.
		for _, forged := range []*presence.Record{
			{Certificate: p.Certificate, PeerID: mallory.PeerID(), Seq: p.Seq + 1, Expires: p.Expires, Addrs: mallory.Addrs()},
			{Certificate: p.Certificate, PeerID: p.PeerID, Seq: p.Seq + 1, Expires: p.Expires, Addrs: mallory.Addrs()},
		} {
			env, err := record.Seal(forged, mpriv)
			if err != nil {
				t.Fatal(err)
			}
			fv, _ := env.Marshal()
			err = alice.DHT().Validator().Validate(key, fv)
			if !errors.Is(err, presence.ErrCertKeyMismatch) {
				t.Errorf("replayed record with peer %s: %v, want ErrPresenceCertKeyMismatch", forged.PeerID, err)
			}
		}
	})

	t.Run("INVITE as bob", func(t *testing.T) {
		s, err := mallory.Host().NewStream(ctx, alice.PeerID(), signalling.ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		conn := signalling.NewConn(s, 0)
		defer conn.Close()
		id, _ := signalling.NewCallID(nil)
		inv := signalling.Message{Type: signalling.TypeInvite, CallID: id, Certificate: bobCert.Marshal(), SDP: "v=0\r\n"}
		if err := conn.Send(ctx, inv); err != nil {
			t.Fatal(err)
		}
		reply, err := conn.Receive(ctx)
		if err != nil {
			t.Fatalf("alice's answer: %v", err)
		}
		if reply.Type != signalling.TypeReject || reply.Reason != signalling.ReasonBadCertificate {
			t.Fatalf("alice answered %v, want REJECT (bad certificate)", reply)
		}
		if calls, recent := alice.Calls(), alice.RecentCalls(); len(calls) != 0 || len(recent) != 0 {
			t.Errorf("alice rang: calls %+v, recent %+v", calls, recent)
		}
	})

	t.Run("alice still reaches bob", func(t *testing.T) {
		info, err := alice.Lookup(ctx, "bob")
		if err != nil || info.PeerID != bob.PeerID() {
			t.Fatalf("lookup bob: %+v, %v; want bob's peer %s", info, err, bob.PeerID())
		}
		res, err := alice.Call(ctx, "bob", call.Options{Duration: 300 * time.Millisecond})
		if err != nil || !res.Connected {
			t.Fatalf("call bob: %+v, %v", res, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(bob.RecentCalls()) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if rc := bob.RecentCalls(); len(rc) != 1 || rc[0].Summary.Peer != "alice" {
			t.Errorf("bob's calls %+v, want one from alice", rc)
		}
	})
}
