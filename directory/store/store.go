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
	// ErrStale: Seen was given a sighting no newer than the one recorded
	// for the node (a replayed or late check-in).
	ErrStale = errors.New("a newer sighting of this node is recorded")
	// ErrDisabled: the account is disabled by the operator.
	ErrDisabled = errors.New("account is disabled")
)

// User is one registered account. Name is the normalised (PRECIS
// UsernameCaseMapped) form that uniqueness is enforced on; Display is the
// name as the user typed it at registration.
type User struct {
	Name         string
	Display      string
	PasswordHash string // argon2id, PHC string form
	Created      time.Time
	// Disabled is set by the operator (SetDisabled): the account gets no
	// certificates, check-ins nor lookups until enabled again.
	Disabled bool
}

// Certificate is the record of one identity certificate the directory issued.
type Certificate struct {
	Serial   uint64
	Username string // normalised
	PeerKey  []byte // the node's ed25519 public key (32 bytes)
	Issued   time.Time
	Expires  time.Time
	Raw      []byte // the signed certificate as crypto.Certificate.Marshal gives it
	// Revoked is when the certificate was revoked (zero: it was not).
	Revoked time.Time
}

// Sighting is the latest check-in of a node of a user, with the addresses
// it reported.
type Sighting struct {
	Username string // normalised
	PeerID   string // libp2p peer ID, text form
	Addrs    []string
	// SuperNode is set only for a node the directory has reached itself
	// (a dial-back that proved the peer ID) at VerifiedAddrs; a node's own
	// claim to be one is not enough.
	SuperNode     bool
	VerifiedAddrs []string
	// Source is the client address the login came from (an IPv4 address or
	// an IPv6 /64), so that bootstrap answers can take few nodes of one.
	Source string
	// Seen is the check-in's own time (the node's clock, checked against
	// the directory's): a node's sightings are ordered by it.
	Seen time.Time
	// Expires is when the sighting stops being live: lookups and bootstrap
	// answer only sightings with Expires at or after the time they ask
	// about. Zero means Seen. A clean shutdown's check-in expires at once.
	Expires time.Time
}

// BootstrapQuery says which sightings BootstrapNodes returns: those live
// at Since (Expires at or after it; only super-nodes with SuperOnly), newest first, at most
// PerUser of one user and PerSource of one source address, at most Limit.
type BootstrapQuery struct {
	Since     time.Time
	SuperOnly bool
	PerUser   int
	PerSource int
	Limit     int
}

// Store is the directory's persistence. Every method that returns nil has made
// its change durable: an acknowledged registration survives the process being
// killed. (One exception: on PostgreSQL, Seen commits asynchronously, so a
// crash of the database server, not of the directory, may lose the
// sightings of its last few hundred milliseconds; nodes check in again.)
// Implementations are safe for concurrent use.
type Store interface {
	// CreateUser inserts u. It returns ErrNameTaken when u.Name exists
	// (uniqueness is enforced by a UNIQUE index, so of concurrent calls with
	// one name exactly one succeeds).
	CreateUser(ctx context.Context, u User) error
	// User returns the user with normalised name, or ErrNotFound.
	User(ctx context.Context, name string) (User, error)
	// SetDisabled disables or enables an account (ErrNotFound for an
	// unknown one); disabling also ends its sightings.
	SetDisabled(ctx context.Context, name string, disabled bool) error
	// SetPasswordHash replaces a user's hash (argon2id parameter upgrades).
	SetPasswordHash(ctx context.Context, name, hash string) error
	// Taken returns which of the normalised names exist.
	Taken(ctx context.Context, names []string) (map[string]bool, error)
	// SkeletonOwners maps each of the skeletons (lookalike.Skeleton of a
	// normalised name) that a user's name has to that user's name; free
	// skeletons are left out. The store computes and keeps every user's
	// skeleton under a UNIQUE index, so CreateUser of a name that looks
	// like an existing one fails with ErrNameTaken even when two
	// registrations race.
	SkeletonOwners(ctx context.Context, skeletons []string) (map[string]string, error)
	// SearchUsers returns up to limit users whose normalised name starts
	// with prefix and sorts after the name after (pagination), in name order.
	SearchUsers(ctx context.Context, prefix, after string, limit int) ([]User, error)

	// NextSerial returns a certificate serial number never returned before.
	NextSerial(ctx context.Context) (uint64, error)
	// AddCertificate records an issued certificate.
	AddCertificate(ctx context.Context, c Certificate) error
	// Certificates returns the user's certificates that have not expired at
	// now and are not revoked, newest first, at most limit.
	Certificates(ctx context.Context, username string, now time.Time, limit int) ([]Certificate, error)
	// RevokeCertificates revokes, as of at, every certificate of the user
	// that has not expired at at, ends the user's sightings, and returns
	// how many certificates it revoked (ErrNotFound for an unknown user).
	RevokeCertificates(ctx context.Context, username string, at time.Time) (int64, error)
	// RevokeCertificate revokes one certificate as of at; it reports
	// false when the serial is unknown or revoked already.
	RevokeCertificate(ctx context.Context, serial uint64, at time.Time) (bool, error)
	// Revocations returns the revoked certificates that have not expired
	// at now (Serial, Expires and Revoked set), by serial, at most limit
	// (which may exceed MaxLimit).
	Revocations(ctx context.Context, now time.Time, limit int) ([]Certificate, error)
	// HasCertifiedKey reports whether the directory ever issued username a
	// certificate for peerKey (expired or not): the key of one of the
	// user's own machines.
	HasCertifiedKey(ctx context.Context, username string, peerKey []byte) (bool, error)

	// Seen records a check-in, replacing the earlier one of the same
	// peer. It fails with ErrStale when the recorded one is as new or
	// newer (by Seen), ErrDisabled for a disabled account and ErrNotFound
	// for an unknown one; the check and the write are one statement.
	Seen(ctx context.Context, s Sighting) error
	// Sightings returns the user's sightings live at the given time
	// (Expires at or after it), newest first.
	Sightings(ctx context.Context, username string, since time.Time, limit int) ([]Sighting, error)
	// BootstrapNodes returns the sightings q asks for (see BootstrapQuery).
	BootstrapNodes(ctx context.Context, q BootstrapQuery) ([]Sighting, error)
	// MarkSuperNode records that the node of the sighting (username,
	// peerID) seen at seen was reached at addrs: it becomes a super-node.
	// It returns ErrNotFound when that sighting is gone or a newer one
	// replaced it (the newer login is checked on its own).
	MarkSuperNode(ctx context.Context, username, peerID string, seen time.Time, addrs []string) error

	Close() error
}

// MaxLimit is the most rows one call returns; a larger limit is reduced to
// it, and a limit of zero or less returns no rows.
const MaxLimit = 1000

// SightingsPruner is implemented by both stores. Sightings otherwise
// accumulate, one per node ever seen; the server should prune those older
// than the longest window it asks Sightings for (hourly is plenty).
// PruneSightings deletes the sightings that expired before the given time
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
// not expired at Now (at most CertLimit) and those live at Since (at
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

// Health is a store's own view of its health.
type Health struct {
	Backend string // "sqlite" or "postgres"
	// Problem is empty when the store works; otherwise it says what is
	// wrong and what to do.
	Problem string
	// FreeBytes is the space left to the database (SQLite: on the file
	// system of its file), or -1 when the store cannot tell (PostgreSQL).
	FreeBytes int64
	// Path is the database file (SQLite) or server (PostgreSQL), for the
	// operator's logs.
	Path string
}

// HealthChecker is implemented by both stores. Health is cheap (one small
// read and, for SQLite, a statfs): it reports a store that does not answer,
// and a corruption, full disk or I/O error that a recent call ran into.
type HealthChecker interface {
	Health(ctx context.Context) Health
}

// IntegrityChecker is implemented by the SQLite store: CheckIntegrity runs
// SQLite's PRAGMA quick_check, which reads the whole file (seconds for some
// GiB), and returns an error saying what is damaged and what to do.
type IntegrityChecker interface {
	CheckIntegrity(ctx context.Context) error
}

// Options change how Open opens a store.
type Options struct {
	// SkipIntegrityCheck skips the integrity check an SQLite database gets
	// at open (PRAGMA quick_check), for a database too large to read at
	// every start.
	SkipIntegrityCheck bool
}
