package crypto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestKeyFileMode(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mode    fs.FileMode
		wantErr bool
	}{
		{0o600, false},
		{0o400, false},
		{0o644, true},
		{0o640, true},
		{0o604, true},
		{0o660, true},
		{0o602, true},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "identity.key")
			if err := SaveKey(path, key); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			got, err := LoadKey(path)
			if tt.wantErr {
				if !errors.Is(err, ErrKeyPermissions) {
					t.Fatalf("LoadKey with mode %v: err = %v, want ErrKeyPermissions", tt.mode, err)
				}
				for _, want := range []string{path, "chmod 600 " + path} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not mention %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadKey with mode %v: %v", tt.mode, err)
			}
			if !got.Equal(key) {
				t.Fatal("loaded key differs from saved key")
			}
		})
	}
}

func TestSaveKeyFileAndDirModes(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "home", "peercall")
	path := filepath.Join(dir, "identity.key")
	if err := SaveKey(path, key); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	dst, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if dst.Mode().Perm() != 0o700 {
		t.Errorf("created directory mode %v, want 0700", dst.Mode().Perm())
	}
	// Overwrite: still 0600, new key, no temporary files left behind.
	key2, _ := GenerateKey()
	if err := SaveKey(path, key2); err != nil {
		t.Fatal(err)
	}
	got, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(key2) {
		t.Error("after overwrite, LoadKey returned the old key")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after save, want only the key", len(entries))
	}
	data, _ := os.ReadFile(path)
	if !bytes.HasPrefix(data, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Errorf("key file does not start with a PRIVATE KEY PEM block:\n%s", data)
	}
}

func TestLoadKeyRejectsMalformed(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	good, err := marshalKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	withType := func(typ string) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	withHeader := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: der})
	ecKey, _ := os.ReadFile("testdata/ec-p256.pem")
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"canonical", good, true},
		{"surrounding whitespace", append(append([]byte("\n  "), good...), "\n\n"...), true},
		{"empty", nil, false},
		{"leading garbage", append([]byte("hello\n"), good...), false},
		{"two keys", append(append([]byte(nil), good...), good...), false},
		{"trailing garbage", append(append([]byte(nil), good...), "x"...), false},
		{"wrong type", withType("ED25519 PRIVATE KEY"), false},
		{"headers", withHeader, false},
		{"truncated", good[:len(good)-20], false},
		{"not PKCS#8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key.Seed()}), false},
		{"ec key", ecKey, false},
		{"oversized", append(append([]byte(nil), good...), bytes.Repeat([]byte(" "), maxKeyFileSize)...), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadKey(path)
			if tt.ok {
				if err != nil {
					t.Fatalf("LoadKey: %v", err)
				}
				if !got.Equal(key) {
					t.Fatal("wrong key")
				}
				return
			}
			if err == nil {
				t.Fatal("LoadKey accepted malformed key file")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestLoadKeyMissingAndDirectory(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadKey(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	os.Chmod(dir, 0o700)
	if _, err := LoadKey(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: err = %v, want 'not a regular file'", err)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "identity.key")
	k1, created, err := LoadOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v, want created", created, err)
	}
	k2, created, err := LoadOrCreateKey(path)
	if err != nil || created {
		t.Fatalf("second call: created=%v err=%v, want loaded", created, err)
	}
	if !k1.Equal(k2) {
		t.Fatal("second call returned a different key")
	}
	os.Chmod(path, 0o644)
	if _, _, err := LoadOrCreateKey(path); !errors.Is(err, ErrKeyPermissions) {
		t.Fatalf("mode 0644: err = %v, want ErrKeyPermissions (and no new key)", err)
	}
}

func TestLoadOrCreateKeyRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.key")
	const n = 8
	keys := make([]ed25519.PrivateKey, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], created[i], errs[i] = LoadOrCreateKey(path) })
	}
	wg.Wait()
	nCreated := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if created[i] {
			nCreated++
		}
		if !keys[i].Equal(keys[0]) {
			t.Fatalf("caller %d got a different key than caller 0", i)
		}
	}
	if nCreated != 1 {
		t.Errorf("%d callers report creating the key, want exactly 1", nCreated)
	}
}

func TestPublicKeyEncoding(t *testing.T) {
	pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey)
	enc := EncodePublicKey(pub)
	if !strings.HasPrefix(enc, "ed25519:") || len(enc) != len("ed25519:")+43 || strings.ContainsAny(enc, "=+/") {
		t.Fatalf("EncodePublicKey = %q, want ed25519: + 43 base64url chars", enc)
	}
	got, err := ParsePublicKey(enc)
	if err != nil || !got.Equal(pub) {
		t.Fatalf("ParsePublicKey(%q) = %x, %v; want round trip", enc, got, err)
	}
	body := enc[len("ed25519:"):]
	// Flip the last character's low bits: non-zero trailing bits are not canonical.
	last := body[len(body)-1]
	var nonCanon string
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		if byte(c) != last {
			cand := "ed25519:" + body[:len(body)-1] + string(c)
			if k, err := ParsePublicKey(cand); err != nil || !k.Equal(pub) {
				continue
			}
			nonCanon = cand
		}
	}
	if nonCanon != "" {
		t.Errorf("ParsePublicKey accepted non-canonical %q", nonCanon)
	}
	bad := []struct{ name, s string }{
		{"empty", ""},
		{"no prefix", body},
		{"wrong prefix", "ed448:" + body},
		{"upper prefix", "ED25519:" + body},
		{"padded", enc + "="},
		{"std alphabet", "ed25519:" + strings.NewReplacer("-", "+", "_", "/").Replace(body) + "+"},
		{"short", enc[:len(enc)-2]},
		{"long", enc + "AAAA"},
		{"space", enc + " "},
		{"huge", "ed25519:" + strings.Repeat("A", 10000)},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if k, err := ParsePublicKey(tt.s); err == nil {
				t.Errorf("ParsePublicKey(%q) = %x, want error", tt.s, k)
			}
		})
	}
}

func TestSaveKeyRejects(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	key, _ := GenerateKey()
	tests := []struct {
		name string
		path string
		key  ed25519.PrivateKey
	}{
		{"short key", filepath.Join(dir, "k"), key[:32]},
		{"nil key", filepath.Join(dir, "k"), nil},
		{"parent is a file", filepath.Join(notDir, "k"), key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := SaveKey(tt.path, tt.key)
			if err == nil {
				t.Fatal("SaveKey succeeded")
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name the file", err)
			}
			if _, err := os.Stat(tt.path); err == nil {
				t.Error("a file was left at the path")
			}
		})
	}
	if _, _, err := LoadOrCreateKey(filepath.Join(notDir, "k")); err == nil {
		t.Error("LoadOrCreateKey under a file succeeded")
	}
}
