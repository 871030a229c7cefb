package home

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
)

func TestOpenHomeCreatesPrivateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "home")
	h, err := OpenHome(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(h.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("home mode = %v, want 0700", st.Mode().Perm())
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := OpenHome(file); err == nil {
		t.Error("OpenHome of a regular file succeeded")
	}
	if _, err := OpenHome(""); err == nil {
		t.Error("OpenHome(\"\") succeeded")
	}
}

func TestDefaultHomeDir(t *testing.T) {
	t.Setenv(HomeEnv, "/srv/peercall-home")
	if d, err := DefaultHomeDir(); err != nil || d != "/srv/peercall-home" {
		t.Errorf("with %s set: %q, %v", HomeEnv, d, err)
	}
	t.Setenv(HomeEnv, "")
	t.Setenv("HOME", "/home/alice")
	if d, err := DefaultHomeDir(); err != nil || d != "/home/alice/.peercall" {
		t.Errorf("without %s: %q, %v", HomeEnv, d, err)
	}
}

func TestHomeConfig(t *testing.T) {
	h, err := OpenHome(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.Config()
	if err != nil {
		t.Fatalf("missing config: %v, want defaults", err)
	}
	c.Directory = DirectoryConfig{URL: "https://dir.example.net:7443", Key: testDirectoryKey(t)}
	if err := h.SaveConfig(c); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(h.Path(ConfigFile))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("config mode = %v, want 0600", st.Mode().Perm())
	}
	back, err := h.Config()
	if err != nil || back.Directory != c.Directory {
		t.Errorf("reloaded = %+v, %v; want %+v", back, err, c)
	}
	bad := c
	bad.Directory.Key = ""
	if err := h.SaveConfig(bad); err == nil {
		t.Error("SaveConfig wrote an invalid config")
	}
	os.WriteFile(h.Path(ConfigFile), []byte("[directory]\nurl = 3\n"), 0o600)
	if _, err := h.Config(); err == nil {
		t.Error("a broken config.toml was accepted")
	}
}

func TestHomeIdentityAndCertificate(t *testing.T) {
	h, err := OpenHome(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Certificate(); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("Certificate before login: %v, want ErrNotLoggedIn", err)
	}
	if _, err := h.Username(); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("Username before login: %v, want ErrNotLoggedIn", err)
	}
	key, created, err := h.IdentityKey()
	if err != nil || !created {
		t.Fatalf("first IdentityKey: created=%v err=%v", created, err)
	}
	again, created, err := h.IdentityKey()
	if err != nil || created || !again.Equal(key) {
		t.Fatalf("second IdentityKey: created=%v err=%v same=%v", created, err, again.Equal(key))
	}

	dirKey, _ := crypto.GenerateKey()
	cert, err := crypto.IssueCertificate(dirKey, "alice", key.Public().(ed25519.PublicKey), 1, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SaveCertificate(cert); err != nil {
		t.Fatal(err)
	}
	if err := h.SaveUsername("alice"); err != nil {
		t.Fatal(err)
	}
	got, err := h.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(dirKey.Public().(ed25519.PublicKey), time.Now()); err != nil || got.Username != "alice" {
		t.Errorf("saved certificate does not verify: %v", err)
	}
	if name, err := h.Username(); err != nil || name != "alice" {
		t.Errorf("Username = %q, %v", name, err)
	}

	os.WriteFile(h.Path(CertificateFile), make([]byte, 4096), 0o600)
	if _, err := h.Certificate(); err == nil {
		t.Error("an oversized certificate file was accepted")
	}
	os.WriteFile(h.Path(UsernameFile), []byte("not a name!\n"), 0o600)
	if _, err := h.Username(); err == nil {
		t.Error("an invalid username file was accepted")
	}
}
