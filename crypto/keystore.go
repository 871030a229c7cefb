package crypto

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/peercall/peercall/internal/atomicfile"
)

// Keystore names the files of one node's identity inside Dir: the identity
// key (IdentityFile) and the latest directory certificate (CertificateFile).
type Keystore struct {
	Dir string
}

// File names inside a Keystore's Dir.
const (
	IdentityFile    = "identity.key"
	CertificateFile = "certificate"
)

// IdentityPath is the identity key's path.
func (k Keystore) IdentityPath() string { return filepath.Join(k.Dir, IdentityFile) }

// CertificatePath is the certificate's path.
func (k Keystore) CertificatePath() string { return filepath.Join(k.Dir, CertificateFile) }

// Identity loads the identity key, creating it on first use (created is then
// true).
func (k Keystore) Identity() (key ed25519.PrivateKey, created bool, err error) {
	return LoadOrCreateKey(k.IdentityPath())
}

// SaveCertificate stores c (Marshal form) atomically, mode 0600.
func (k Keystore) SaveCertificate(c *Certificate) error {
	if err := atomicfile.WriteFile(k.CertificatePath(), c.Marshal(), 0o600); err != nil {
		return fmt.Errorf("save certificate %s: %w", k.CertificatePath(), err)
	}
	return nil
}

// LoadCertificate reads and parses the stored certificate. It does not
// verify it; call Verify with the pinned directory key. A missing file gives
// an error wrapping fs.ErrNotExist: the node has not logged in yet.
func (k Keystore) LoadCertificate() (*Certificate, error) {
	path := k.CertificatePath()
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load certificate (run `peercall login` first): %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxCertificateSize+1))
	if err != nil {
		return nil, fmt.Errorf("load certificate %s: %w", path, err)
	}
	c, err := ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s (run `peercall login` to get a new one): %w", path, err)
	}
	return c, nil
}
