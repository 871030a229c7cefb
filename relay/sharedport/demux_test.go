package sharedport

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func TestDemuxMatchers(t *testing.T) {
	stun := []byte{0x00, 0x03, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42}
	tests := []struct {
		name                 string
		b                    []byte
		tls, stunOK, mstream bool
	}{
		{"TURN allocate", stun, false, true, false},
		{"TLS ClientHello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01}, true, false, false},
		{"multistream-select", []byte("\x13/multistream/1.0.0\n")[:8], false, false, true},
		{"HTTP", []byte("GET / HT"), false, false, false},
		{"STUN without cookie", []byte{0x00, 0x01, 0x00, 0x00, 0, 0, 0, 0}, false, false, false},
		{"too short", []byte{0x00}, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if IsTLS(tc.b) != tc.tls || IsSTUN(tc.b) != tc.stunOK || IsMultistream(tc.b) != tc.mstream {
				t.Fatalf("IsTLS %t IsSTUN %t IsMultistream %t; want %t %t %t",
					IsTLS(tc.b), IsSTUN(tc.b), IsMultistream(tc.b), tc.tls, tc.stunOK, tc.mstream)
			}
		})
	}
}

// TestDemux shares one loopback TCP port between TURN over TCP and TURN
// over TLS (the relay serving the Demux routes handed to it, with a
// self-signed Ed25519 certificate that the client pins, and no TCP
// listener of its own) and libp2p (a host whose SharedTCPTransport serves
// the route: another host connects, opens a stream, and the server sees
// the client's real address). The credentials name the shared port for
// turn: and turns:. The relay is demoted and promoted again: the routes
// outlive the stop.
func FuzzDemuxMatchers(f *testing.F) {
	f.Add([]byte{0x00, 0x03, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42})
	f.Add([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01})
	f.Add([]byte("\x13/multis"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		for _, m := range []func([]byte) bool{IsTLS, IsSTUN, IsMultistream} {
			if m(b) {
				n++
			}
		}
		if n > 1 {
			t.Fatalf("%x matches %d protocols", b, n)
		}
	})
}

// TestDemuxUnacceptedRoute: connections to a route nobody accepts (TURN
// on a node that is not a super-node yet) do not pile up: beyond the
// backlog each is closed once the hand-off times out.
func TestDemuxUnacceptedRoute(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := NewDemux(ln, nil)
	defer d.Close()
	_ = d.Route("turn", IsSTUN) // never accepted
	stun := []byte{0x00, 0x03, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range demuxBacklog + 1 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := c.Write(stun); err != nil {
			t.Fatal(err)
		}
	}
	// One connection beyond the backlog is closed by the demux.
	closed := make(chan int, len(conns))
	for i, c := range conns {
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(3 * demuxPeekTimeout))
			if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) {
				closed <- i
			}
		}()
	}
	select {
	case <-closed:
	case <-time.After(3 * demuxPeekTimeout):
		t.Fatalf("none of %d connections to an unaccepted route was closed", len(conns))
	}
}
