package store

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// clampLimit bounds a caller's row limit to [0, MaxLimit].
func clampLimit(limit int) int {
	return max(0, min(limit, MaxLimit))
}

// prefixEnd returns the least string greater than every string that starts
// with prefix, in byte (code point) order, and false when there is none (an
// empty prefix, or one made only of U+10FFFF). Both stores compare names
// bytewise (SQLite BINARY, PostgreSQL COLLATE "C"), so
// name >= prefix AND name < prefixEnd(prefix) is an index range scan.
func prefixEnd(prefix string) (string, bool) {
	runes := []rune(prefix)
	for i := len(runes) - 1; i >= 0; i-- {
		r := runes[i] + 1
		if r >= 0xD800 && r <= 0xDFFF {
			r = 0xE000 // skip surrogates: not valid in UTF-8
		}
		if r <= utf8.MaxRune {
			runes[i] = r
			return string(runes[:i+1]), true
		}
	}
	return "", false
}

// checkUser rejects users no store should hold.
func checkUser(u User) error {
	if u.Name == "" {
		return fmt.Errorf("store: create user: empty normalised name (normalise the username before storing it)")
	}
	if !validText(u.Name) || !validText(u.Display) || !validText(u.PasswordHash) {
		return fmt.Errorf("store: create user %q: name, display name or hash is not valid UTF-8 text (or holds a NUL)", u.Name)
	}
	if u.PasswordHash == "" {
		return fmt.Errorf("store: create user %q: empty password hash (hash the password before storing it)", u.Name)
	}
	return nil
}

// validText reports whether s can be stored as text by both stores: valid
// UTF-8 without NUL (PostgreSQL refuses both). Names that are not can never
// have been stored, so lookups of them find nothing without asking the
// database; writes of them fail.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// takenStart begins a Taken answer: every name asked about maps to false,
// and valid lists the ones a store could hold, the only ones worth a query.
func takenStart(names []string) (taken map[string]bool, valid []string) {
	taken = make(map[string]bool, len(names))
	for _, n := range names {
		taken[n] = false
		if validText(n) {
			valid = append(valid, n)
		}
	}
	return taken, valid
}

// searchArgs makes SearchUsers' arguments safe for both stores: ok is
// false when no stored name can start with prefix, and an after that is not
// valid text loses its invalid bytes (it is only a position).
func searchArgs(prefix, after string) (string, bool) {
	if !validText(prefix) {
		return "", false
	}
	return strings.ReplaceAll(strings.ToValidUTF8(after, ""), "\x00", ""), true
}

// checkSighting rejects sightings no store should hold.
func checkSighting(sg Sighting) error {
	if sg.PeerID == "" {
		return fmt.Errorf("store: record sighting of %q: empty peer ID", sg.Username)
	}
	ok := validText(sg.PeerID)
	for _, a := range sg.Addrs {
		ok = ok && validText(a)
	}
	if !ok {
		return fmt.Errorf("store: record sighting of %q: peer ID or address is not valid UTF-8 text (or holds a NUL)", sg.Username)
	}
	return nil
}

// expiresOf is a sighting's expiry: Seen when none is given.
func expiresOf(sg Sighting) time.Time {
	if sg.Expires.IsZero() {
		return sg.Seen
	}
	return sg.Expires
}

// maxRevocations bounds what Revocations reads (crypto.MaxRevocations,
// which the server's list holds at most, plus one to notice an overflow).
const maxRevocations = 32769

// now is the stores' clock for defaults (a zero User.Created).
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// fromMicros converts a stored time (microseconds since the Unix epoch) back.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// sightingColumns are the columns every sighting query reads, in the order
// the stores scan them.
const sightingColumns = `username, peer_id, addrs, super_node, seen, source, verified_addrs, expires`

// bootstrapQuery is BootstrapNodes' query for both stores, with the
// arguments since, per user, per source and limit: numbered says whether
// placeholders are $1..$4 (PostgreSQL) or ? (SQLite), and filter is the
// super-node condition. Window functions rank each user's and each
// source's sightings newest first, so that one account or one address
// fills at most its share of the answer however many sightings it has.
func bootstrapQuery(numbered bool, filter string) string {
	ph := []string{"?", "?", "?", "?"}
	if numbered {
		ph = []string{"$1", "$2", "$3", "$4"}
	}
	return `SELECT ` + sightingColumns + ` FROM (
		SELECT ` + sightingColumns + `,
			ROW_NUMBER() OVER (PARTITION BY username ORDER BY seen DESC, peer_id) AS nth_user,
			ROW_NUMBER() OVER (PARTITION BY source ORDER BY seen DESC, peer_id) AS nth_source
		FROM sightings WHERE ` + filter + ` AND expires >= ` + ph[0] + `
	) AS ranked WHERE nth_user <= ` + ph[1] + ` AND nth_source <= ` + ph[2] + `
	ORDER BY seen DESC, peer_id LIMIT ` + ph[3]
}

// faultWindow is how long Health reports a fault a request ran into.
const faultWindow = 5 * time.Minute

// faultLog remembers the last fault of the database itself (corruption,
// full disk, I/O error) for Health.
type faultLog struct {
	mu  sync.Mutex
	msg string
	at  time.Time
}

func (f *faultLog) note(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msg, f.at = err.Error(), time.Now()
}

// recent is the last fault if it happened within faultWindow, else "".
func (f *faultLog) recent() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.msg == "" || time.Since(f.at) > faultWindow {
		return ""
	}
	return f.msg
}

// sortPage puts a UserPage read in one compound statement in the order
// Certificates and Sightings return (SQL does not promise a compound's
// order): certificates newest first (by issue time, then serial),
// sightings newest first (by seen, then peer ID).
func sortPage(page *UserPage) {
	slices.SortStableFunc(page.Certificates, func(a, b Certificate) int {
		if c := b.Issued.Compare(a.Issued); c != 0 {
			return c
		}
		return cmp.Compare(b.Serial, a.Serial)
	})
	slices.SortStableFunc(page.Sightings, func(a, b Sighting) int {
		if c := b.Seen.Compare(a.Seen); c != 0 {
			return c
		}
		return strings.Compare(a.PeerID, b.PeerID)
	})
}
