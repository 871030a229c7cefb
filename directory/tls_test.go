package directory_test

import (
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/server"
)

func TestPinnedTLSConfig(t *testing.T) {
	dirKey, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := server.SelfSignedTLS(dirKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	hs.TLS = server.TLSConfig(cert)
	hs.StartTLS()
	defer hs.Close()
	other, _ := crypto.GenerateKey()
	for _, tc := range []struct {
		name    string
		pin     ed25519.PublicKey
		wantErr bool
	}{
		{"right key", dirKey.Public().(ed25519.PublicKey), false},
		{"other key", other.Public().(ed25519.PublicKey), true},
		{"empty pin", nil, true},
		{"short pin", dirKey.Public().(ed25519.PublicKey)[:31], true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: directory.PinnedTLSConfig(tc.pin)}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get(hs.URL)
			if err == nil {
				resp.Body.Close()
			}
			if tc.wantErr != (err != nil) || err != nil && !errors.Is(err, directory.ErrKeyMismatch) {
				t.Fatalf("GET: %v, want error %v (ErrKeyMismatch)", err, tc.wantErr)
			}
		})
	}
}
