package store

import (
	"fmt"
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
	if !utf8.ValidString(u.Name) || !utf8.ValidString(u.Display) {
		return fmt.Errorf("store: create user %q: name is not valid UTF-8", u.Name)
	}
	if u.PasswordHash == "" {
		return fmt.Errorf("store: create user %q: empty password hash (hash the password before storing it)", u.Name)
	}
	return nil
}

// now is the stores' clock for defaults (a zero User.Created).
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// fromMicros converts a stored time (microseconds since the Unix epoch) back.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
