package directory

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

// Username rules.
//
// A username is normalised with the PRECIS UsernameCaseMapped profile
// (RFC 8265): full-width characters are folded to their normal width, letters
// are lower-cased, the result is put in Unicode NFC, and the bidi rule
// applies. Allowed are letters and digits of any script (what the profile's
// IdentifierClass allows beyond ASCII) and, of the ASCII symbols, only '.',
// '_' and '-', and a name starts with a letter or digit. Everything else is
// refused: spaces of every kind, control characters, emoji, and ASCII symbols
// such as '/', '?', '#', '%', '@' or '+', which would need escaping in URLs
// and would break the DHT key /peercall/NAME into more segments.
// The normalised form must be MinUsernameLen to MaxUsernameLen characters
// (Unicode code points) long and must not be one of the reserved names.
// "Alice" and "alice" are therefore one name.
const (
	MinUsernameLen = 3
	MaxUsernameLen = 32

	// maxRawUsernameBytes bounds the input before PRECIS runs on it: no
	// valid name is longer (32 code points of at most 4 bytes, plus
	// width and case folding slack).
	maxRawUsernameBytes = 256
)

// Sentinel errors of Normalize; test them with errors.Is.
var (
	ErrInvalidUsername  = errors.New("invalid username: use 3 to 32 letters or digits, with '.', '_' or '-' between them (no spaces, other symbols or emoji)")
	ErrReservedUsername = errors.New("reserved username: names such as admin, root, support, peercall or directory belong to the operators; choose another name")
)

// reserved are normalised names nobody may register.
var reserved = map[string]bool{
	"admin": true, "administrator": true, "root": true, "system": true,
	"support": true, "help": true, "peercall": true, "directory": true,
	"operator": true, "sysop": true, "security": true, "abuse": true,
	"postmaster": true, "hostmaster": true, "webmaster": true, "nobody": true,
	"null": true, "anonymous": true, "guest": true, "moderator": true,
	"staff": true, "official": true, "echo": true, "test": true,
}

// IsReserved reports whether the normalised name is reserved.
func IsReserved(normalised string) bool { return reserved[normalised] }

// Normalize returns the canonical form of a username, the form uniqueness is
// enforced on. It returns an error wrapping ErrInvalidUsername or
// ErrReservedUsername that says which rule the name breaks.
func Normalize(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: the name is empty", ErrInvalidUsername)
	}
	if len(name) > maxRawUsernameBytes || !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: the name is too long or not UTF-8", ErrInvalidUsername)
	}
	n, err := precis.UsernameCaseMapped.String(name)
	if err != nil {
		return "", fmt.Errorf("%w: %q contains a character that is not allowed (%v)", ErrInvalidUsername, name, err)
	}
	// Stored names must be fixed points: a second pass must not change them.
	if again, err := precis.UsernameCaseMapped.String(n); err != nil || again != n {
		return "", fmt.Errorf("%w: %q does not have a stable normal form", ErrInvalidUsername, name)
	}
	for i, r := range n {
		if r < utf8.RuneSelf && !isASCIIAlnum(r) && (i == 0 || !strings.ContainsRune("._-", r)) {
			return "", fmt.Errorf("%w: %q contains %q; only '.', '_' and '-' may join letters and digits", ErrInvalidUsername, name, r)
		}
	}
	switch l := utf8.RuneCountInString(n); {
	case l < MinUsernameLen:
		return "", fmt.Errorf("%w: %q is %d characters, the minimum is %d", ErrInvalidUsername, name, l, MinUsernameLen)
	case l > MaxUsernameLen:
		return "", fmt.Errorf("%w: %q is %d characters, the maximum is %d", ErrInvalidUsername, name, l, MaxUsernameLen)
	}
	if reserved[n] {
		return "", fmt.Errorf("%w: %q", ErrReservedUsername, n)
	}
	return n, nil
}

func isASCIIAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// Suggestions returns up to n distinct valid, unreserved alternatives to the
// normalised name base, the most natural first (name2, name_1, name.x,
// name2026, ...), then random ones (name_4821) so that a long list is
// unlikely to be all taken. It does not know which names are taken: the
// caller checks the candidates against its store.
func Suggestions(base string, n int) []string {
	if n <= 0 {
		return nil
	}
	b, err := Normalize(base)
	if err != nil {
		// Reserved or invalid names still get suggestions when their
		// stem is usable (a reserved "admin" suggests "admin2").
		b, err = precis.UsernameCaseMapped.String(base)
		if err != nil || b == "" || utf8.RuneCountInString(b) > MaxUsernameLen+8 {
			b = "user"
		}
	}
	year := time.Now().Year()
	suffixes := []string{
		"2", "_1", ".x", strconv.Itoa(year), "3", "_2", "-1", "_" + strconv.Itoa(year%100),
		".me", "4", "_x", "5", "_3", "7", "_99",
	}
	out := make([]string, 0, n)
	seen := map[string]bool{}
	add := func(suffix string) {
		c := stem(b, utf8.RuneCountInString(suffix)) + suffix
		c, err := Normalize(c)
		if err != nil || c == b || seen[c] {
			return
		}
		seen[c] = true
		out = append(out, c)
	}
	for _, s := range suffixes {
		if len(out) == n {
			return out
		}
		add(s)
	}
	for tries := 0; len(out) < n && tries < 8*n; tries++ {
		add("_" + strconv.Itoa(100+rand.IntN(99900)))
	}
	return out
}

// stem cuts base so that a suffix of suffixLen characters fits in
// MaxUsernameLen, and pads it so that the result reaches MinUsernameLen.
func stem(base string, suffixLen int) string {
	max := MaxUsernameLen - suffixLen
	if utf8.RuneCountInString(base) > max {
		r := []rune(base)
		base = string(r[:max])
	}
	if pad := MinUsernameLen - suffixLen - utf8.RuneCountInString(base); pad > 0 {
		base += strings.Repeat("x", pad)
	}
	return base
}
