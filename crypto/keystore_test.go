package crypto

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestKeystore(t *testing.T) {
	ks := Keystore{Dir: filepath.Join(t.TempDir(), "home")}
	if _, err := ks.LoadCertificate(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadCertificate before login: err = %v, want fs.ErrNotExist", err)
	}
	key, created, err := ks.Identity()
	if err != nil || !created {
		t.Fatalf("Identity: created=%v err=%v", created, err)
	}
	again, created, err := ks.Identity()
	if err != nil || created || !again.Equal(key) {
		t.Fatalf("second Identity: created=%v err=%v same=%v", created, err, again.Equal(key))
	}
	cert := issueTestCert(t)
	if err := ks.SaveCertificate(cert); err != nil {
		t.Fatal(err)
	}
	got, err := ks.LoadCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Marshal()) != string(cert.Marshal()) {
		t.Fatal("stored certificate differs")
	}
	if err := os.WriteFile(ks.CertificatePath(), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.LoadCertificate(); !errors.Is(err, ErrCertificateMalformed) {
		t.Fatalf("corrupt certificate: err = %v, want ErrCertificateMalformed", err)
	}
}
