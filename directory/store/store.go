package store

import (
	"context"
	"errors"
	"time"
)

// Errors a Store returns; callers test them with errors.Is.
var (
	// ErrNameTaken: a user with the same normalised name exists already.
	ErrNameTaken = errors.New("username is taken")
	// ErrNotFound: no such user.
	ErrNotFound = errors.New("user not found")
)

// User is one registered account. Name is the normalised (PRECIS
// UsernameCaseMapped) form that uniqueness is enforced on; Display is the
// name as the user typed it at registration.
type User struct {
	Name         string
	Display      string
	PasswordHash string // argon2id, PHC string form
	Created      time.Time
}

// Certificate is the record of one identity certificate the directory issued.
type Certificate struct {
	Serial   uint64
	Username string // normalised
	PeerKey  []byte // the node's ed25519 public key (32 bytes)
	Issued   time.Time
	Expires  time.Time
	Raw      []byte // the signed certificate as crypto.Certificate.Marshal gives it
}

// Sighting is the last time a node of a user was seen by the directory
// (at login), with the addresses it reported.
type Sighting struct {
	Username  string // normalised
	PeerID    string // libp2p peer ID, text form
	Addrs     []string
	SuperNode bool
	Seen      time.Time
}

// Store is the directory's persistence. Every method that returns nil has made
// its change durable: an acknowledged registration survives the process being
// killed. Implementations are safe for concurrent use.
type Store interface {
	// CreateUser inserts u. It returns ErrNameTaken when u.Name exists
	// (uniqueness is enforced by a UNIQUE index, so of concurrent calls with
	// one name exactly one succeeds).
	CreateUser(ctx context.Context, u User) error
	// User returns the user with normalised name, or ErrNotFound.
	User(ctx context.Context, name string) (User, error)
	// SetPasswordHash replaces a user's hash (argon2id parameter upgrades).
	SetPasswordHash(ctx context.Context, name, hash string) error
	// Taken returns which of the normalised names exist.
	Taken(ctx context.Context, names []string) (map[string]bool, error)
	// SearchUsers returns up to limit users whose normalised name starts
	// with prefix and sorts after the name after (pagination), in name order.
	SearchUsers(ctx context.Context, prefix, after string, limit int) ([]User, error)

	// NextSerial returns a certificate serial number never returned before.
	NextSerial(ctx context.Context) (uint64, error)
	// AddCertificate records an issued certificate.
	AddCertificate(ctx context.Context, c Certificate) error
	// Certificates returns the user's certificates that have not expired at
	// now, newest first, at most limit.
	Certificates(ctx context.Context, username string, now time.Time, limit int) ([]Certificate, error)

	// Seen records a sighting, replacing the earlier one of the same peer.
	Seen(ctx context.Context, s Sighting) error
	// Sightings returns the user's sightings since the given time, newest first.
	Sightings(ctx context.Context, username string, since time.Time, limit int) ([]Sighting, error)
	// RecentNodes returns up to limit nodes seen since the given time, newest
	// first; with superOnly, only super-nodes.
	RecentNodes(ctx context.Context, since time.Time, superOnly bool, limit int) ([]Sighting, error)

	Close() error
}

// MaxLimit is the most rows one call returns; a larger limit is reduced to
// it, and a limit of zero or less returns no rows.
const MaxLimit = 1000

// SightingsPruner is implemented by both stores. Sightings otherwise
// accumulate, one per node ever seen; the server should prune those older
// than the longest window it asks Sightings and RecentNodes for (hourly is
// plenty). PruneSightings deletes the sightings seen before the given time
// and returns how many it deleted.
type SightingsPruner interface {
	PruneSightings(ctx context.Context, before time.Time) (int64, error)
}

// UserPage is what the directory answers about one user: the account, its
// live certificates and its recent sightings, read together.
type UserPage struct {
	User         User
	Certificates []Certificate
	Sightings    []Sighting
}

// PageQuery says which certificates and sightings a UserPage holds: those
// not expired at Now (at most CertLimit) and those seen since Since (at
// most SightingLimit), newest first, as Certificates and Sightings return.
type PageQuery struct {
	Now           time.Time
	CertLimit     int
	Since         time.Time
	SightingLimit int
}

// UserPager is implemented by both stores. UserPage returns what User,
// Certificates and Sightings would; PostgreSQL sends the three queries in
// one round trip (a pipelined batch), which halves the cost of a lookup.
// It returns ErrNotFound for an unknown user.
type UserPager interface {
	UserPage(ctx context.Context, name string, q PageQuery) (UserPage, error)
}
