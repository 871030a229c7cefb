package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// rawTURN is a TURN client made of single STUN messages, for requests
// pion's client never sends on its own: a ChannelBind without a
// permission first, a Send indication to an arbitrary peer, an Allocate
// with a LIFETIME.
type rawTURN struct {
	t           testing.TB
	conn        net.PacketConn
	server      net.Addr
	username    stun.Username
	realm       stun.Realm
	nonce       stun.Nonce
	integrity   stun.MessageIntegrity
	relayedAddr net.UDPAddr
	lifetime    time.Duration // granted
}

// rawAllocate makes a UDP allocation asking for lifetime (0: no LIFETIME
// attribute).
func rawAllocate(t testing.TB, r *Relay, creds Credentials, lifetime time.Duration) *rawTURN {
	t.Helper()
	c := &rawTURN{t: t, conn: udpSocket(t, "127.0.0.1"), server: r.Addrs().UDP, username: stun.NewUsername(creds.Username)}
	transport := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
	// The first Allocate is answered 401 with the realm and a nonce.
	res := c.roundTrip(stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), transport, stun.Fingerprint))
	if err := c.realm.GetFrom(res); err != nil {
		t.Fatalf("first Allocate answer %v has no realm: %v", res, err)
	}
	if err := c.nonce.GetFrom(res); err != nil {
		t.Fatalf("first Allocate answer %v has no nonce: %v", res, err)
	}
	c.integrity = stun.NewLongTermIntegrity(creds.Username, c.realm.String(), creds.Password)
	attrs := []stun.Setter{transport}
	if lifetime > 0 {
		attrs = append(attrs, lifetimeAttr(lifetime))
	}
	res, err := c.request(stun.MethodAllocate, attrs...)
	if err != nil {
		t.Fatalf("raw Allocate: %v", err)
	}
	var relayed stun.XORMappedAddress
	if err := relayed.GetFromAs(res, stun.AttrXORRelayedAddress); err != nil {
		t.Fatalf("Allocate answer without XOR-RELAYED-ADDRESS: %v", err)
	}
	c.relayedAddr = net.UDPAddr{IP: relayed.IP, Port: relayed.Port}
	raw, err := res.Get(stun.AttrLifetime)
	if err != nil || len(raw) != 4 {
		t.Fatalf("Allocate answer without LIFETIME: %v", err)
	}
	c.lifetime = time.Duration(binary.BigEndian.Uint32(raw)) * time.Second
	return c
}

func lifetimeAttr(d time.Duration) stun.RawAttribute {
	return stun.RawAttribute{Type: stun.AttrLifetime, Value: binary.BigEndian.AppendUint32(nil, uint32(d/time.Second))}
}

// peerAddr is an XOR-PEER-ADDRESS attribute.
type peerAddr net.UDPAddr

func (p peerAddr) AddTo(m *stun.Message) error {
	return stun.XORMappedAddress{IP: p.IP, Port: p.Port}.AddToAs(m, stun.AttrXORPeerAddress)
}

// request sends an authenticated request and returns its success answer,
// or the error answer as a *stun.TurnError.
func (c *rawTURN) request(method stun.Method, attrs ...stun.Setter) (*stun.Message, error) {
	setters := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)
	setters = append(setters, c.username, c.realm, c.nonce, c.integrity, stun.Fingerprint)
	res := c.roundTrip(stun.MustBuild(setters...))
	if res.Type.Class == stun.ClassErrorResponse {
		var code stun.ErrorCodeAttribute
		if err := code.GetFrom(res); err != nil {
			return nil, fmt.Errorf("%s error answer without code", method)
		}
		return nil, &stun.TurnError{StunMessageType: res.Type, ErrorCodeAttr: code}
	}
	return res, nil
}

// indicate sends an indication (no answer comes).
func (c *rawTURN) indicate(method stun.Method, attrs ...stun.Setter) {
	setters := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassIndication)}, attrs...)
	setters = append(setters, stun.Fingerprint)
	if _, err := c.conn.WriteTo(stun.MustBuild(setters...).Raw, c.server); err != nil {
		c.t.Fatal(err)
	}
}

// roundTrip sends m (up to 5 times, 200 ms apart) until the answer with its
// transaction ID arrives.
func (c *rawTURN) roundTrip(m *stun.Message) *stun.Message {
	c.t.Helper()
	buf := make([]byte, 1500)
	for try := 0; try < 5; try++ {
		if _, err := c.conn.WriteTo(m.Raw, c.server); err != nil {
			c.t.Fatal(err)
		}
		deadline := time.Now().Add(200 * time.Millisecond)
		for {
			_ = c.conn.SetReadDeadline(deadline)
			n, _, err := c.conn.ReadFrom(buf)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			if err != nil {
				c.t.Fatal(err)
			}
			res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if res.Decode() == nil && res.TransactionID == m.TransactionID {
				return res
			}
		}
	}
	c.t.Fatalf("no answer to %v from %v", m.Type, c.server)
	return nil
}

// quiet asserts that nothing arrives on c for 300 ms.
func quiet(t testing.TB, c net.PacketConn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, from, err := c.ReadFrom(make([]byte, 1500)); err == nil {
		t.Fatalf("%s: a %d-byte datagram from %v arrived", what, n, from)
	}
}
