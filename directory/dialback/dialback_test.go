package dialback

import (
	"context"
	"crypto/ed25519"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/peercall/peercall/crypto"
)

// node is a real libp2p host on loopback TCP with an ed25519 identity, as
// a super-node runs.
func node(t *testing.T) (host.Host, ed25519.PublicKey, string) {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := lcrypto.UnmarshalEd25519PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(priv), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, key.Public().(ed25519.PublicKey), h.Addrs()[0].String()
}

func newProver(t *testing.T) *Prover {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestProve(t *testing.T) {
	p := newProver(t)
	_, key, addr := node(t)
	_, otherKey, otherAddr := node(t)

	// A TCP listener that is no libp2p node: it accepts and says nothing.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted sync.WaitGroup
	accepted.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	})
	defer accepted.Wait()
	defer ln.Close()
	silent := "/ip4/127.0.0.1/tcp/" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")

	// A port nobody listens on.
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "/ip4/127.0.0.1/tcp/" + strings.TrimPrefix(free.Addr().String(), "127.0.0.1:")
	free.Close()

	for _, tc := range []struct {
		name string
		key  ed25519.PublicKey
		addr string
		ok   bool
	}{
		{"the node itself", key, addr, true},
		{"the other node, again", otherKey, otherAddr, true},
		{"another node's address", key, otherAddr, false},
		{"a listener that is no libp2p node", key, silent, false},
		{"a closed port", key, closed, false},
		{"not TCP", key, "/ip4/127.0.0.1/udp/4001/quic-v1", false},
		{"a DNS name", key, "/dns4/localhost/tcp/4001", false},
		{"not a multiaddr", key, "127.0.0.1:4001", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			err := p.Prove(ctx, tc.key, tc.addr)
			if (err == nil) != tc.ok {
				t.Fatalf("Prove(%s) = %v, want ok %v", tc.addr, err, tc.ok)
			}
			if time.Since(start) > 3*time.Second {
				t.Fatalf("Prove took %v, past its 2 s context", time.Since(start))
			}
		})
	}
	if n := len(p.host.Network().Peers()); n != 0 {
		t.Errorf("the prover keeps %d connections after its proofs, want none", n)
	}
}

// TestProveConcurrently: proofs of one peer, and of several, at once.
func TestProveConcurrently(t *testing.T) {
	p := newProver(t)
	_, key, addr := node(t)
	_, key2, addr2 := node(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			k, a := key, addr
			if i%2 == 1 {
				k, a = key2, addr2
			}
			if err := p.Prove(ctx, k, a); err != nil {
				t.Errorf("proof %d: %v", i, err)
			}
		})
	}
	wg.Wait()
}
