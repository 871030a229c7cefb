package dirlink

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/home"
)

// Config is what a Link needs from its node.
type Config struct {
	// Directory is the directory client; nil runs no check-ins, no
	// renewals and no fetches (the cached revocation list is still read).
	Directory *directory.Client
	// Key is the node's identity key, DirectoryKey the pinned directory's.
	Key          ed25519.PrivateKey
	DirectoryKey ed25519.PublicKey
	// Home holds the certificate (renewals save it there) and the cached
	// revocation list (RevocationsFile).
	Home *home.Home
	// Certificate returns the node's current valid certificate.
	Certificate func() (*crypto.Certificate, error)
	// Addrs returns the node's addresses, direct and circuit (check-ins).
	Addrs func() []ma.Multiaddr
	// SuperNode reports whether the node serves as a super-node now.
	SuperNode func() bool
	// OnRenewed is called after each renewal (to republish presence).
	OnRenewed func()
	// RevocationRefresh is how often the revocation list is fetched
	// (default DefaultRevocationRefresh).
	RevocationRefresh time.Duration
	Logger            *slog.Logger
	Now               func() time.Time
}

// Link runs the check-in, renewal and revocation loops until Close.
type Link struct {
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	kick chan struct{}

	checkins checkinState
	renewal  renewState
	revs     revocationCache

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// New returns a link; Start starts its loops.
func New(cfg Config) (*Link, error) {
	if cfg.Home == nil || cfg.Certificate == nil || len(cfg.DirectoryKey) != ed25519.PublicKeySize {
		return nil, errors.New("dirlink: Home, Certificate and DirectoryKey are required")
	}
	if cfg.Directory != nil && (cfg.Key == nil || cfg.Addrs == nil) {
		return nil, errors.New("dirlink: a directory needs Key and Addrs")
	}
	if cfg.SuperNode == nil {
		cfg.SuperNode = func() bool { return false }
	}
	if cfg.OnRenewed == nil {
		cfg.OnRenewed = func() {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Link{cfg: cfg, log: cfg.Logger, now: cfg.Now, kick: make(chan struct{}, 1)}, nil
}

// Start loads the cached revocation list and, with a directory, starts
// the check-in, renewal and revocation loops; they run until Close.
func (l *Link) Start() {
	l.loadRevocations()
	if l.cfg.Directory == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Go(func() { l.runCheckin(ctx) })
	l.wg.Go(func() { l.runRenewal(ctx) })
	l.wg.Go(func() { l.runRevocations(ctx) })
}

// CheckInNow asks for a check-in at once (a network change), rather than
// at the next poll.
func (l *Link) CheckInNow() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// NetworkChanged drops the directory connections kept alive over the old
// network and checks in at once.
func (l *Link) NetworkChanged() {
	if l.cfg.Directory != nil {
		l.cfg.Directory.CloseIdleConnections()
	}
	l.CheckInNow()
}

// Close stops the loops, withdraws the check-in (bounded by
// checkinWithdrawTimeout) and waits.
func (l *Link) Close() {
	l.once.Do(func() {
		if l.cancel != nil {
			l.cancel()
		}
		l.wg.Wait()
	})
}
