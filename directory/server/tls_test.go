package server

import (
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/peercall/peercall/directory"
)

func TestSelfSignedTLSWithPinnedClient(t *testing.T) {
	d := newTestDir(t, nil)
	cert, err := SelfSignedTLS(d.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := cert.Leaf.PublicKey.(ed25519.PublicKey); !ok || !pub.Equal(d.key.Public()) {
		t.Fatalf("leaf key %T is not the directory key", cert.Leaf.PublicKey)
	}
	hs := httptest.NewUnstartedServer(d.srv.Handler())
	hs.TLS = TLSConfig(cert)
	hs.StartTLS()
	defer hs.Close()

	get := func(pin ed25519.PublicKey) (string, error) {
		tr := &http.Transport{TLSClientConfig: directory.PinnedTLSConfig(pin)}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(hs.URL + "/v1/key")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	body, err := get(d.key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatalf("GET with the right pin: %v", err)
	}
	if want := `{"key":"` + d.srv.PublicKey() + `"}` + "\n"; body != want {
		t.Fatalf("body %q, want %q", body, want)
	}
	other := newNodeKey(t).Public().(ed25519.PublicKey)
	if _, err := get(other); !errors.Is(err, directory.ErrKeyMismatch) {
		t.Fatalf("GET with another pin: %v, want ErrKeyMismatch", err)
	}
	// A server with an ordinary (non-ed25519) certificate is refused too.
	plain := httptest.NewTLSServer(d.srv.Handler())
	defer plain.Close()
	tr := &http.Transport{TLSClientConfig: directory.PinnedTLSConfig(d.key.Public().(ed25519.PublicKey))}
	defer tr.CloseIdleConnections()
	if _, err := (&http.Client{Transport: tr}).Get(plain.URL + "/v1/key"); !errors.Is(err, directory.ErrKeyMismatch) {
		t.Fatalf("GET from a server with another certificate: %v, want ErrKeyMismatch", err)
	}
}
