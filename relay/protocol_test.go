package relay

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/relay/turncreds"
)

func nonce(t testing.TB) [turncreds.NonceSize]byte {
	var n [turncreds.NonceSize]byte
	if _, err := rand.Read(n[:]); err != nil {
		t.Fatal(err)
	}
	return n
}

// exchange runs turncreds.Request against ServeCredentials over a
// synchronous in-memory pipe (the node runs them on a libp2p stream).
func exchange(t *testing.T, r *Relay, remote []byte, do func(net.Conn) (Credentials, error)) (Credentials, error, error) {
	t.Helper()
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	deadline := time.Now().Add(5 * time.Second)
	client.SetDeadline(deadline)
	server.SetDeadline(deadline)
	served := make(chan error, 1)
	go func() { served <- r.ServeCredentials(server, remote) }()
	c, err := do(client)
	client.Close()
	return c, err, <-served
}

func TestCredentialsProtocol(t *testing.T) {
	w := newWorld(t)
	r := startRelay(t, w, testConfig(), Options{})
	alice, aliceKey := w.user(t, "alice")
	_, malloryKey := w.user(t, "mallory")

	t.Run("issued and usable", func(t *testing.T) {
		creds, err, serveErr := exchange(t, r, aliceKey, func(c net.Conn) (Credentials, error) {
			return turncreds.Request(c, alice, nonce(t))
		})
		if err != nil || serveErr != nil {
			t.Fatalf("turncreds.Request: %v; ServeCredentials: %v", err, serveErr)
		}
		a, err := allocate(t, r, creds.Username, creds.Password)
		if err != nil {
			t.Fatalf("allocation with credentials from the protocol: %v", err)
		}
		if err := roundTrip(t, a, udpPeer(t), []byte("via protocol")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("certificate of another peer", func(t *testing.T) {
		_, err, serveErr := exchange(t, r, malloryKey, func(c net.Conn) (Credentials, error) {
			return turncreds.Request(c, alice, nonce(t))
		})
		var re *turncreds.RemoteError
		if !errors.As(err, &re) || !errors.Is(err, ErrCertificate) || !strings.Contains(re.Message, "another peer") {
			t.Fatalf("turncreds.Request = %v, want a certificate refusal naming the peer mismatch", err)
		}
		if !errors.Is(serveErr, ErrCertificate) {
			t.Fatalf("ServeCredentials = %v", serveErr)
		}
	})
	t.Run("garbage request", func(t *testing.T) {
		_, err, serveErr := exchange(t, r, aliceKey, func(c net.Conn) (Credentials, error) {
			if err := turncreds.WriteFrame(c, []byte{1, 1, 2, 3}); err != nil {
				return Credentials{}, err
			}
			body, err := turncreds.ReadFrame(c)
			if err != nil {
				return Credentials{}, err
			}
			p, err := turncreds.UnmarshalCredentialResponse(body)
			if err != nil {
				return Credentials{}, err
			}
			return Credentials{}, &turncreds.RemoteError{Code: p.Code, Message: p.Message}
		})
		var re *turncreds.RemoteError
		if !errors.As(err, &re) || re.Code != turncreds.CodeBadRequest || !errors.Is(serveErr, turncreds.ErrMalformed) {
			t.Fatalf("client %v, server %v", err, serveErr)
		}
	})
	t.Run("oversized frame refused before reading it", func(t *testing.T) {
		var hdr [2]byte
		binary.BigEndian.PutUint16(hdr[:], turncreds.MaxMessageSize+1)
		if _, err := turncreds.ReadFrame(bytes.NewReader(hdr[:])); !errors.Is(err, turncreds.ErrMalformed) {
			t.Fatalf("readFrame = %v, want turncreds.ErrMalformed", err)
		}
	})
	t.Run("not running", func(t *testing.T) {
		stopped, err := New(testConfig(), Options{DirectoryKey: w.dirPub, ListenIP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		_, err, _ = exchange(t, stopped, aliceKey, func(c net.Conn) (Credentials, error) {
			return turncreds.Request(c, alice, nonce(t))
		})
		if !errors.Is(err, ErrNotRunning) {
			t.Fatalf("turncreds.Request from a stopped relay = %v, want ErrNotRunning", err)
		}
	})
}
