package admission

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
)

func testCert(t testing.TB) *crypto.Certificate {
	t.Helper()
	dir, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	node, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := crypto.IssueCertificate(dir, "alice", node.Public().(ed25519.PublicKey), 1, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDecodeHello(t *testing.T) {
	cert := testCert(t)
	good := encodeHello(cert)
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"valid", good, true},
		{"empty", nil, false},
		{"version only", []byte{helloVersion}, false},
		{"version 2", append([]byte{2}, cert.Marshal()...), false},
		{"trailing byte", append(append([]byte(nil), good...), 0), false},
		{"truncated certificate", good[:len(good)-1], false},
		{"not a certificate", append([]byte{helloVersion}, bytes.Repeat([]byte{7}, 100)...), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeHello(tc.in)
			if tc.ok {
				if err != nil || !bytes.Equal(got.Marshal(), cert.Marshal()) {
					t.Fatalf("decode: %v, %v", got, err)
				}
				return
			}
			if err == nil {
				t.Fatal("decoded a malformed hello")
			}
			if !errors.Is(err, ErrHelloMalformed) && !errors.Is(err, crypto.ErrCertificateMalformed) && !errors.Is(err, crypto.ErrCertificateVersion) {
				t.Errorf("error %v wraps neither ErrHelloMalformed nor a certificate error", err)
			}
		})
	}
}

func TestHelloFrame(t *testing.T) {
	cert := testCert(t)
	var buf bytes.Buffer
	if err := writeHello(&buf, cert); err != nil {
		t.Fatal(err)
	}
	got, err := readHello(&buf)
	if err != nil || !bytes.Equal(got.Marshal(), cert.Marshal()) {
		t.Fatalf("round trip: %v", err)
	}
	// A frame announcing more than a hello can be is refused before its body.
	if _, err := readHello(bytes.NewReader([]byte{0xff, 0xff})); !errors.Is(err, ErrHelloMalformed) {
		t.Errorf("oversized frame: %v, want ErrHelloMalformed", err)
	}
}

// FuzzDecodeHello: the decoder never panics, and what it accepts
// re-encodes to the same bytes (one canonical encoding).
func FuzzDecodeHello(f *testing.F) {
	f.Add(encodeHello(testCert(f)))
	f.Add([]byte{helloVersion})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		cert, err := decodeHello(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeHello(cert), b) {
			t.Fatalf("accepted %x, re-encodes to %x", b, encodeHello(cert))
		}
	})
}

func testCertFunc(t testing.TB) func() (*crypto.Certificate, error) {
	c := testCert(t)
	return func() (*crypto.Certificate, error) { return c, nil }
}
