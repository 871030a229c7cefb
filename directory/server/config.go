package server

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory/store"
)

// Defaults of Config.
const (
	DefaultCertValidity = 7 * 24 * time.Hour
	// MinCertValidity is the shortest certificate lifetime: nodes renew at
	// two thirds of it, so it must leave them time to.
	MinCertValidity   = 10 * time.Second
	DefaultSeenWindow = 7 * 24 * time.Hour
	// DefaultMinFreeDisk is the free space below which /healthz reports
	// the disk of an SQLite database as nearly full.
	DefaultMinFreeDisk = 256 << 20
	// DefaultIntegrityInterval is how often an SQLite database's integrity
	// is checked again after the check at open.
	DefaultIntegrityInterval = 24 * time.Hour
	// MaxClockSkew is how far a login, check-in or renewal request's Time
	// may be from the directory's clock.
	MaxClockSkew = 5 * time.Minute
	// DefaultCheckinTTL is how long a check-in keeps a node listed: two
	// and a half check-in intervals, so one lost check-in does not drop
	// a node that runs.
	DefaultCheckinTTL = 25 * time.Minute
	// DefaultRevocationRefresh is how often the revocation list is rebuilt
	// from the store (revocations made by another replica, or by
	// `peercall-directory user revoke`); this replica's own are listed at
	// once.
	DefaultRevocationRefresh = 30 * time.Second
)

// Config configures a Server. Store and Key are required; zero values of the
// other fields take their defaults.
type Config struct {
	// Store persists users, certificates and sightings. The caller owns
	// it: Server.Close does not close it.
	Store store.Store
	// Key is the directory's signing key, the trust anchor clients pin.
	Key ed25519.PrivateKey
	// CertValidity is the lifetime of issued certificates (default 7 days).
	CertValidity time.Duration
	// CheckinTTL is how long a check-in keeps a node listed in lookups and
	// bootstrap (default DefaultCheckinTTL); nodes are told to check in
	// again after two fifths of it.
	CheckinTTL time.Duration
	// RevocationRefresh: see DefaultRevocationRefresh.
	RevocationRefresh time.Duration
	// SeenWindow is how long an expired sighting is kept (it refuses
	// replays of the check-ins before it) before pruning (default 7 days).
	SeenWindow time.Duration
	// PruneInterval is how often sightings older than SeenWindow are
	// deleted, when the Store implements store.SightingsPruner (default
	// hourly; negative disables pruning).
	PruneInterval time.Duration
	// Password are the argon2id parameters of new hashes; a stored hash
	// with other parameters is re-hashed at the next good login. Zero
	// means crypto.DefaultPasswordParams (OWASP).
	Password crypto.PasswordParams
	// Limits are the throttling and shedding limits; the zero value means
	// DefaultLimits().
	Limits Limits
	// TrustedProxies are the reverse proxies in front of the directory:
	// for a request from one of them, throttling counts the client address
	// it reports in X-Forwarded-For. Empty means the directory faces
	// clients directly and the header is ignored.
	TrustedProxies []netip.Prefix
	// Prover dials nodes back: a node that logs in saying it is a
	// super-node is listed as one in /v1/bootstrap only once the Prover
	// reached it at a TCP address on the IP address the login came from
	// (directory/dialback). Nil lists no node as a super-node.
	Prover Prover
	// MinFreeDisk is the free space (bytes) below which /healthz reports
	// the store unhealthy (default DefaultMinFreeDisk; negative: never).
	MinFreeDisk int64
	// IntegrityInterval is how often the store's integrity is checked in
	// the background, when it can (store.IntegrityChecker; default
	// DefaultIntegrityInterval, negative: never).
	IntegrityInterval time.Duration
	// Logger receives the server's logs (default slog.Default()).
	Logger *slog.Logger
	// Registry receives the server's metrics and is what /metrics serves;
	// nil means a private registry.
	Registry *prometheus.Registry
	// Now is the clock (default time.Now); tests set it.
	Now func() time.Time
}

// Limits are the login throttling, overload shedding, bootstrap and
// dial-back limits.
type Limits struct {
	// LoginFailuresPerName failed logins of one username are allowed per
	// LoginWindow; the budget refills continuously. A successful login
	// costs a quarter of a failure, and an attempt needs a failure's worth
	// of budget at hand (it is reserved while the password is checked).
	// The client address's budget is checked first: a login it refuses
	// never touches the name's.
	LoginFailuresPerName int
	// LoginFailuresPerAddr is the same budget per client address (IPv4
	// address or IPv6 /64).
	LoginFailuresPerAddr int
	// LoginFailuresPerDevice is the budget of logins proved with a machine
	// key the account already had certified (the owner's own machine).
	// Such a login is charged to this budget only, not to the name's or
	// the address's, so strangers guessing the password cannot lock the
	// owner out of the machines he uses.
	LoginFailuresPerDevice int
	LoginWindow            time.Duration
	// RegistrationsPerAddr successful registrations are allowed per client
	// address per RegistrationWindow; failed ones (a taken name) cost
	// nothing.
	RegistrationsPerAddr int
	RegistrationWindow   time.Duration
	// CheckinsPerKey check-ins of one node key are allowed per
	// CheckinWindow (a burst of address changes fits); more are answered
	// 429 without touching the store. RenewalsPerKey renewals and
	// revocations per RenewalWindow likewise.
	CheckinsPerKey int
	CheckinWindow  time.Duration
	RenewalsPerKey int
	RenewalWindow  time.Duration
	// MaxTrackedKeys bounds each throttling table (names, addresses,
	// machines, registering addresses). Only spent budgets are kept, and
	// one leaves only once it is full again; when a table is full, new keys
	// share one overflow budget (counted in
	// peercall_directory_throttle_overflow_total).
	MaxTrackedKeys int

	// MaxConcurrentHashes bounds the argon2id hashes running at once
	// (registration and login); each takes the parameters' memory (19 MiB
	// by default).
	MaxConcurrentHashes int
	// MaxHashQueue requests may wait for a hash slot, each at most
	// MaxHashWait; a request beyond the queue, or that waited too long, is
	// answered 503 overloaded at once.
	MaxHashQueue int
	MaxHashWait  time.Duration
	// MaxConcurrentWrites bounds the check-ins, renewals and revocations
	// answered at once; MaxWriteQueue more may wait, each at most
	// MaxWriteWait, and one beyond is answered 503 overloaded at once. 0
	// (the default): no bound. For a database slower than the directory's
	// CPU (docs/operator.md, "Overload shedding", says what was measured).
	MaxConcurrentWrites int
	MaxWriteQueue       int
	MaxWriteWait        time.Duration
	// RetryAfterMin and RetryAfterMax bound the jittered Retry-After of a
	// 503 overloaded answer.
	RetryAfterMin, RetryAfterMax time.Duration

	// BootstrapPerAccount and BootstrapPerAddr bound the nodes of one
	// account and of one client address in a /v1/bootstrap answer.
	BootstrapPerAccount int
	BootstrapPerAddr    int

	// DialBackConcurrency dial-backs run at once, each at most
	// DialBackTimeout; DialBackQueue logins may wait for one (a login
	// beyond it is not checked: the node stays unlisted until it logs in
	// again). A verdict is cached for DialBackTTL when the node was
	// reached and DialBackFailTTL when not. At most DialBackAddrs
	// addresses of one login are dialled.
	DialBackConcurrency int
	DialBackQueue       int
	DialBackTimeout     time.Duration
	DialBackTTL         time.Duration
	DialBackFailTTL     time.Duration
	DialBackAddrs       int
}

// DefaultLimits are the limits of a directory on a small machine.
func DefaultLimits() Limits {
	n := runtime.GOMAXPROCS(0)
	return Limits{
		LoginFailuresPerName:   5,
		LoginFailuresPerAddr:   50,
		LoginFailuresPerDevice: 5,
		LoginWindow:            15 * time.Minute,
		RegistrationsPerAddr:   20,
		RegistrationWindow:     time.Hour,
		CheckinsPerKey:         20,
		CheckinWindow:          10 * time.Minute,
		RenewalsPerKey:         10,
		RenewalWindow:          time.Hour,
		MaxTrackedKeys:         1 << 16,
		MaxConcurrentHashes:    n,
		MaxHashQueue:           8 * n,
		MaxHashWait:            2 * time.Second,
		MaxWriteQueue:          64 * n,
		MaxWriteWait:           time.Second,
		RetryAfterMin:          time.Second,
		RetryAfterMax:          5 * time.Second,
		BootstrapPerAccount:    2,
		BootstrapPerAddr:       4,
		DialBackConcurrency:    4,
		DialBackQueue:          64,
		DialBackTimeout:        5 * time.Second,
		DialBackTTL:            time.Hour,
		DialBackFailTTL:        10 * time.Minute,
		DialBackAddrs:          4,
	}
}

// validate names the first setting out of range.
func (l Limits) validate() error {
	switch {
	case l.LoginFailuresPerName < 1:
		return fmt.Errorf("limits: LoginFailuresPerName is %d, want at least 1", l.LoginFailuresPerName)
	case l.LoginFailuresPerAddr < 1:
		return fmt.Errorf("limits: LoginFailuresPerAddr is %d, want at least 1", l.LoginFailuresPerAddr)
	case l.LoginFailuresPerDevice < 1:
		return fmt.Errorf("limits: LoginFailuresPerDevice is %d, want at least 1", l.LoginFailuresPerDevice)
	case l.LoginWindow <= 0:
		return fmt.Errorf("limits: LoginWindow is %v, want a positive duration", l.LoginWindow)
	case l.RegistrationsPerAddr < 1:
		return fmt.Errorf("limits: RegistrationsPerAddr is %d, want at least 1", l.RegistrationsPerAddr)
	case l.RegistrationWindow <= 0:
		return fmt.Errorf("limits: RegistrationWindow is %v, want a positive duration", l.RegistrationWindow)
	case l.CheckinsPerKey < 1 || l.CheckinWindow <= 0:
		return fmt.Errorf("limits: CheckinsPerKey %d per CheckinWindow %v, want at least 1 per a positive duration", l.CheckinsPerKey, l.CheckinWindow)
	case l.RenewalsPerKey < 1 || l.RenewalWindow <= 0:
		return fmt.Errorf("limits: RenewalsPerKey %d per RenewalWindow %v, want at least 1 per a positive duration", l.RenewalsPerKey, l.RenewalWindow)
	case l.MaxTrackedKeys < 1:
		return fmt.Errorf("limits: MaxTrackedKeys is %d, want at least 1", l.MaxTrackedKeys)
	case l.MaxConcurrentHashes < 1:
		return fmt.Errorf("limits: MaxConcurrentHashes is %d, want at least 1", l.MaxConcurrentHashes)
	case l.MaxHashQueue < 0:
		return fmt.Errorf("limits: MaxHashQueue is %d, want 0 or more", l.MaxHashQueue)
	case l.MaxHashWait < 0:
		return fmt.Errorf("limits: MaxHashWait is %v, want 0 or more", l.MaxHashWait)
	case l.MaxConcurrentWrites < 0:
		return fmt.Errorf("limits: MaxConcurrentWrites is %d, want 0 (no bound) or more", l.MaxConcurrentWrites)
	case l.MaxWriteQueue < 0:
		return fmt.Errorf("limits: MaxWriteQueue is %d, want 0 or more", l.MaxWriteQueue)
	case l.MaxWriteWait < 0:
		return fmt.Errorf("limits: MaxWriteWait is %v, want 0 or more", l.MaxWriteWait)
	case l.RetryAfterMin < time.Second:
		return fmt.Errorf("limits: RetryAfterMin is %v, want at least 1s (Retry-After counts seconds)", l.RetryAfterMin)
	case l.RetryAfterMax < l.RetryAfterMin:
		return fmt.Errorf("limits: RetryAfterMax %v is less than RetryAfterMin %v", l.RetryAfterMax, l.RetryAfterMin)
	case l.BootstrapPerAccount < 1:
		return fmt.Errorf("limits: BootstrapPerAccount is %d, want at least 1", l.BootstrapPerAccount)
	case l.BootstrapPerAddr < 1:
		return fmt.Errorf("limits: BootstrapPerAddr is %d, want at least 1", l.BootstrapPerAddr)
	case l.DialBackConcurrency < 1:
		return fmt.Errorf("limits: DialBackConcurrency is %d, want at least 1", l.DialBackConcurrency)
	case l.DialBackQueue < 0:
		return fmt.Errorf("limits: DialBackQueue is %d, want 0 or more", l.DialBackQueue)
	case l.DialBackTimeout <= 0:
		return fmt.Errorf("limits: DialBackTimeout is %v, want a positive duration", l.DialBackTimeout)
	case l.DialBackTTL <= 0:
		return fmt.Errorf("limits: DialBackTTL is %v, want a positive duration", l.DialBackTTL)
	case l.DialBackFailTTL <= 0:
		return fmt.Errorf("limits: DialBackFailTTL is %v, want a positive duration", l.DialBackFailTTL)
	case l.DialBackAddrs < 1 || l.DialBackAddrs > maxAddrs:
		return fmt.Errorf("limits: DialBackAddrs is %d, want 1 to %d", l.DialBackAddrs, maxAddrs)
	}
	return nil
}

// withDefaults fills the zero fields of c and validates it.
func (c Config) withDefaults() (Config, error) {
	if c.Store == nil {
		return c, errors.New("server config: Store is required")
	}
	if len(c.Key) != ed25519.PrivateKeySize {
		return c, fmt.Errorf("server config: Key is %d bytes, want an ed25519 private key of %d", len(c.Key), ed25519.PrivateKeySize)
	}
	if c.CertValidity == 0 {
		c.CertValidity = DefaultCertValidity
	}
	if c.CertValidity < MinCertValidity {
		return c, fmt.Errorf("server config: CertValidity is %v, want at least %v", c.CertValidity, MinCertValidity)
	}
	if c.CheckinTTL == 0 {
		c.CheckinTTL = DefaultCheckinTTL
	}
	if c.CheckinTTL < 5*time.Second {
		return c, fmt.Errorf("server config: CheckinTTL is %v, want at least 5s", c.CheckinTTL)
	}
	if c.RevocationRefresh == 0 {
		c.RevocationRefresh = DefaultRevocationRefresh
	}
	if c.RevocationRefresh < 0 {
		return c, fmt.Errorf("server config: RevocationRefresh is %v, want a positive duration", c.RevocationRefresh)
	}
	if c.SeenWindow == 0 {
		c.SeenWindow = DefaultSeenWindow
	}
	if c.SeenWindow < 0 {
		return c, fmt.Errorf("server config: SeenWindow is %v, want a positive duration", c.SeenWindow)
	}
	if c.PruneInterval == 0 {
		c.PruneInterval = DefaultPruneInterval
	}
	if c.MinFreeDisk == 0 {
		c.MinFreeDisk = DefaultMinFreeDisk
	}
	if c.IntegrityInterval == 0 {
		c.IntegrityInterval = DefaultIntegrityInterval
	}
	if c.Password == (crypto.PasswordParams{}) {
		c.Password = crypto.DefaultPasswordParams()
	}
	if err := c.Password.Validate(); err != nil {
		return c, fmt.Errorf("server config: Password: %w", err)
	}
	if c.Limits == (Limits{}) {
		c.Limits = DefaultLimits()
	}
	if err := c.Limits.validate(); err != nil {
		return c, fmt.Errorf("server config: %w", err)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
