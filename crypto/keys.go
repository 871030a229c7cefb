package crypto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/peercall/peercall/internal/atomicfile"
)

// PublicKeyPrefix starts every encoded public key.
const PublicKeyPrefix = "ed25519:"

// maxKeyFileSize bounds what LoadKey reads; an ed25519 PKCS#8 PEM is 119 bytes.
const maxKeyFileSize = 4 << 10

// encodedPublicKeyLen is len(EncodePublicKey(k)) for a 32-byte key.
var encodedPublicKeyLen = len(PublicKeyPrefix) + base64.RawURLEncoding.EncodedLen(ed25519.PublicKeySize)

// ErrKeyPermissions is wrapped by LoadKey when the key file is readable or
// writable by group or others.
var ErrKeyPermissions = errors.New("key file permissions too open")

// GenerateKey returns a fresh ed25519 identity key from crypto/rand.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return priv, nil
}

// marshalKeyPEM encodes key as a PEM "PRIVATE KEY" block (PKCS#8).
func marshalKeyPEM(key ed25519.PrivateKey) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("ed25519 private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key as PKCS#8: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// SaveKey writes key to path as a PEM "PRIVATE KEY" block (PKCS#8) with mode
// 0600. It writes a temporary file in the same directory and renames it over
// path, so readers see the old file or the new one, never a partial one. A
// missing parent directory is created with mode 0700.
func SaveKey(path string, key ed25519.PrivateKey) error {
	data, err := marshalKeyPEM(key)
	if err != nil {
		return fmt.Errorf("save key %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("save key %s: %w", path, err)
	}
	return nil
}

// LoadKey reads an ed25519 private key written by SaveKey. It refuses a file
// that group or others may read or write (mode&0o077 != 0), a file larger
// than a few KiB, and any PEM content other than exactly one "PRIVATE KEY"
// block holding a PKCS#8 ed25519 key.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("load key %s: not a regular file (mode %v); point at the key file itself", path, st.Mode())
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("load key %s: mode %#o lets other users read or change the private key; run `chmod 600 %s`: %w",
			path, perm, path, ErrKeyPermissions)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("load key %s: file is larger than %d bytes, so it is not a peercall key; restore the key or remove the file to create a new identity", path, maxKeyFileSize)
	}
	key, err := parseKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w; restore the key or remove the file to create a new identity", path, err)
	}
	return key, nil
}

// parseKeyPEM strictly decodes exactly one PEM "PRIVATE KEY" block holding a
// canonical PKCS#8 ed25519 key, with nothing but whitespace around it.
func parseKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		return nil, errors.New("not a PEM file (it must start with -----BEGIN PRIVATE KEY-----)")
	}
	block, rest := pem.Decode(trimmed)
	if block == nil {
		return nil, errors.New("malformed PEM block")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("PEM block is %q, want \"PRIVATE KEY\"", block.Type)
	}
	if len(block.Headers) != 0 {
		return nil, errors.New("PEM block has headers (an encrypted key?); peercall keys are unencrypted PKCS#8")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("extra data after the PEM block; the file must hold exactly one key")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("decode PKCS#8: %w", err)
	}
	key, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want an ed25519 key", parsed)
	}
	canon, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil || !bytes.Equal(canon, block.Bytes) {
		return nil, errors.New("PKCS#8 encoding is not canonical")
	}
	return key, nil
}

// LoadOrCreateKey loads the key at path, or, when no file exists there,
// generates one and saves it (created is then true). Two processes racing to
// create the key end up with the same one: the loser loads the winner's.
func LoadOrCreateKey(path string) (key ed25519.PrivateKey, created bool, err error) {
	key, err = LoadKey(path)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	key, err = GenerateKey()
	if err != nil {
		return nil, false, err
	}
	data, err := marshalKeyPEM(key)
	if err != nil {
		return nil, false, err
	}
	switch err := atomicfile.CreateFile(path, data, 0o600); {
	case err == nil:
		return key, true, nil
	case errors.Is(err, fs.ErrExist):
		key, err := LoadKey(path)
		return key, false, err
	default:
		return nil, false, fmt.Errorf("create key %s: %w", path, err)
	}
}

// EncodePublicKey returns "ed25519:" followed by the key in unpadded
// base64url, the form used in config files, the directory API and logs.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return PublicKeyPrefix + base64.RawURLEncoding.EncodeToString(pub)
}

// ParsePublicKey is the strict inverse of EncodePublicKey.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	if len(s) > 2*encodedPublicKeyLen {
		return nil, fmt.Errorf("parse public key: %d characters is too long; want %q followed by 43 base64url characters", len(s), PublicKeyPrefix)
	}
	rest, ok := strings.CutPrefix(s, PublicKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("parse public key %q: missing %q prefix; copy the whole key, e.g. from `GET /v1/key`", s, PublicKeyPrefix)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("parse public key %q: not unpadded base64url (%v); copy the key again", s, err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("parse public key %q: %d bytes, want %d; copy the whole key", s, len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}
