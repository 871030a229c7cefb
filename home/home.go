package home

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/internal/atomicfile"
)

// Files of a home directory.
const (
	ConfigFile      = "config.toml"
	IdentityKeyFile = "identity.key"
	CertificateFile = "certificate"
	UsernameFile    = "username"
	// HostCacheFile remembers peers seen before (presence.HostCache), so
	// that a node can rejoin the network while the directory is down.
	HostCacheFile = "peers.json"
	// ControlSocket is the running node's control socket (mode 0600).
	ControlSocket = "node.sock"
)

// HomeEnv names the environment variable that overrides the default home.
const HomeEnv = "PEERCALL_HOME"

// ErrNotLoggedIn is returned by Certificate and Username when no login has
// been saved yet.
var ErrNotLoggedIn = errors.New("not logged in")

// Home is a client's home directory: config.toml, the identity key, the
// latest certificate and the username it was issued for.
type Home struct {
	dir string
}

// DefaultHomeDir returns $PEERCALL_HOME, else ~/.peercall.
func DefaultHomeDir() (string, error) {
	if d := os.Getenv(HomeEnv); d != "" {
		return d, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home directory: %w; set %s or pass --home DIR", err, HomeEnv)
	}
	return filepath.Join(h, ".peercall"), nil
}

// OpenHome opens the home directory dir, creating it (mode 0700) when
// missing.
func OpenHome(dir string) (*Home, error) {
	if dir == "" {
		return nil, fmt.Errorf("home directory is empty; pass --home DIR or set %s", HomeEnv)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("home directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create home directory: %w; pass --home DIR to use another", err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("home directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("home %s is not a directory; pass --home DIR to use another", abs)
	}
	return &Home{dir: abs}, nil
}

// Dir returns the home's absolute path.
func (h *Home) Dir() string { return h.dir }

// Path returns the path of a file in the home.
func (h *Home) Path(name string) string { return filepath.Join(h.dir, name) }

// Config reads config.toml, or returns the defaults when it does not exist.
func (h *Home) Config() (Config, error) { return LoadConfig(h.Path(ConfigFile)) }

// SaveConfig validates cfg and writes it to config.toml (mode 0600).
func (h *Home) SaveConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	data, err := cfg.Marshal()
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	if err := atomicfile.WriteFile(h.Path(ConfigFile), data, 0o600); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

// IdentityKey loads identity.key, creating it on first use (created is then
// true).
func (h *Home) IdentityKey() (key ed25519.PrivateKey, created bool, err error) {
	return crypto.LoadOrCreateKey(h.Path(IdentityKeyFile))
}

// SaveCertificate writes the certificate of the latest login.
func (h *Home) SaveCertificate(cert *crypto.Certificate) error {
	if err := atomicfile.WriteFile(h.Path(CertificateFile), cert.Marshal(), 0o600); err != nil {
		return fmt.Errorf("save certificate: %w", err)
	}
	return nil
}

// Certificate reads the certificate of the latest login (parsed, not
// verified: verify it with the pinned directory key). It returns an error
// wrapping ErrNotLoggedIn when there is none.
func (h *Home) Certificate() (*crypto.Certificate, error) {
	data, err := h.readSmall(CertificateFile, crypto.MaxCertificateSize)
	if err != nil {
		return nil, err
	}
	cert, err := crypto.ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; run `peercall login NAME` to get a new one", h.Path(CertificateFile), err)
	}
	return cert, nil
}

// SaveUsername records the username of the latest login.
func (h *Home) SaveUsername(name string) error {
	if err := atomicfile.WriteFile(h.Path(UsernameFile), []byte(name+"\n"), 0o600); err != nil {
		return fmt.Errorf("save username: %w", err)
	}
	return nil
}

// Username returns the username of the latest login, or an error wrapping
// ErrNotLoggedIn.
func (h *Home) Username() (string, error) {
	data, err := h.readSmall(UsernameFile, 256)
	if err != nil {
		return "", err
	}
	name := strings.TrimSpace(string(data))
	norm, err := directory.Normalize(name)
	if err != nil || norm != name {
		return "", fmt.Errorf("%s does not hold a valid username; run `peercall login NAME`", h.Path(UsernameFile))
	}
	return name, nil
}

// readSmall reads a home file of at most limit bytes.
func (h *Home) readSmall(name string, limit int64) ([]byte, error) {
	path := h.Path(name)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s in %s; run `peercall login NAME`", ErrNotLoggedIn, name, h.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes; remove it and run `peercall login NAME`", path, limit)
	}
	return data, nil
}

// ErrCertificate is wrapped when the home has no usable certificate (never
// logged in, expired, or issued for another identity key); the CLI maps it
// to exit code 6.
var ErrCertificate = errors.New("no valid certificate")

// ValidCertificate reads the certificate of the latest login and checks
// that the directory whose key is dirKey signed it, for the identity key
// key, and that it is valid at now. Every error wraps ErrCertificate and
// says what to run.
func (h *Home) ValidCertificate(dirKey ed25519.PublicKey, key ed25519.PrivateKey, now time.Time) (*crypto.Certificate, error) {
	cert, err := h.Certificate()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	if err := cert.VerifyPeer(dirKey, key.Public().(ed25519.PublicKey), now); err != nil {
		return nil, fmt.Errorf("%w: the saved certificate of %q cannot be used: %w; run `peercall login %s` to get a new one",
			ErrCertificate, cert.Username, err, cert.Username)
	}
	return cert, nil
}
