package crypto

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Bounds on argon2id parameters, applied both to the parameters HashPassword
// is given and to every stored hash VerifyPassword parses, so that a hostile
// or corrupt stored hash cannot make a login allocate more than
// MaxPasswordMemory KiB or run for long.
const (
	MaxPasswordMemory  = 64 << 10 // KiB (64 MiB, RFC 9106's second recommended setting)
	MaxPasswordTime    = 16
	MaxPasswordThreads = 16
	MinPasswordSaltLen = 8
	MaxPasswordSaltLen = 64
	MinPasswordKeyLen  = 16
	MaxPasswordKeyLen  = 64
	// MaxPasswordHashLen bounds the PHC string VerifyPassword accepts.
	MaxPasswordHashLen = 256
)

// ErrPasswordHashMalformed is wrapped when a stored hash is not a PHC
// argon2id string this package accepts.
var ErrPasswordHashMalformed = errors.New("password hash is malformed")

// PasswordParams are argon2id's cost parameters.
type PasswordParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultPasswordParams are OWASP's minimum argon2id recommendation
// (m=19456 KiB, t=2, p=1) with a 16-byte salt and a 32-byte key. One hash
// costs 19 MiB and about 30-40 ms of one core here (BenchmarkHashPassword).
func DefaultPasswordParams() PasswordParams {
	return PasswordParams{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Validate reports the first parameter outside this package's bounds.
func (p PasswordParams) Validate() error {
	switch {
	case p.Threads < 1 || p.Threads > MaxPasswordThreads:
		return fmt.Errorf("argon2id threads %d outside 1..%d", p.Threads, MaxPasswordThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > MaxPasswordMemory:
		return fmt.Errorf("argon2id memory %d KiB outside %d..%d (8 KiB per thread at least)", p.Memory, 8*uint32(p.Threads), MaxPasswordMemory)
	case p.Time < 1 || p.Time > MaxPasswordTime:
		return fmt.Errorf("argon2id time %d outside 1..%d", p.Time, MaxPasswordTime)
	case p.SaltLen < MinPasswordSaltLen || p.SaltLen > MaxPasswordSaltLen:
		return fmt.Errorf("argon2id salt length %d outside %d..%d", p.SaltLen, MinPasswordSaltLen, MaxPasswordSaltLen)
	case p.KeyLen < MinPasswordKeyLen || p.KeyLen > MaxPasswordKeyLen:
		return fmt.Errorf("argon2id key length %d outside %d..%d", p.KeyLen, MinPasswordKeyLen, MaxPasswordKeyLen)
	}
	return nil
}

// phcHash is a parsed "$argon2id$v=19$m=..,t=..,p=..$salt$hash" string.
type phcHash struct {
	params PasswordParams
	salt   []byte
	key    []byte
}

// HashPassword hashes password with a fresh random salt and returns it in
// PHC string form: "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>", salt and
// hash in unpadded standard base64.
func HashPassword(password string, p PasswordParams) (string, error) {
	if err := p.Validate(); err != nil {
		return "", fmt.Errorf("hash password: %w; fix the password hashing settings", err)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: read salt: %w", err)
	}
	h := phcHash{params: p, salt: salt, key: argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)}
	return h.String(), nil
}

// String is the canonical PHC encoding of h.
func (h phcHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.params.Memory, h.params.Time, h.params.Threads,
		base64.RawStdEncoding.EncodeToString(h.salt), base64.RawStdEncoding.EncodeToString(h.key))
}

// VerifyPassword checks password against encoded, a HashPassword result, in
// constant time. needsRehash is true when the password is right and
// encoded's parameters differ from current (weaker or merely different), so
// the caller should store HashPassword(password, current). A malformed or
// out-of-bounds encoded yields an error wrapping ErrPasswordHashMalformed and
// no argon2 work.
func VerifyPassword(password, encoded string, current PasswordParams) (ok bool, needsRehash bool, err error) {
	h, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(argonKey(password, h), h.key) != 1 {
		return false, false, nil
	}
	return true, h.params != current, nil
}

// argonKey derives the argon2id key of password with h's salt and params.
func argonKey(password string, h phcHash) []byte {
	p := h.params
	return argon2.IDKey([]byte(password), h.salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

// parsePHC strictly parses a canonical argon2id PHC string within the
// package bounds.
func parsePHC(s string) (phcHash, error) {
	bad := func(format string, args ...any) (phcHash, error) {
		return phcHash{}, fmt.Errorf("parse password hash: %s; the stored hash is corrupt, reset the password: %w",
			fmt.Sprintf(format, args...), ErrPasswordHashMalformed)
	}
	if len(s) > MaxPasswordHashLen {
		return bad("%d bytes, limit %d", len(s), MaxPasswordHashLen)
	}
	rest, ok := strings.CutPrefix(s, "$argon2id$v=19$")
	if !ok {
		return bad("does not start with $argon2id$v=19$")
	}
	fields := strings.Split(rest, "$")
	if len(fields) != 3 {
		return bad("want parameters, salt and hash separated by $, got %d fields", len(fields))
	}
	kv := strings.Split(fields[0], ",")
	if len(kv) != 3 {
		return bad("want parameters m=,t=,p=")
	}
	var h phcHash
	var vals [3]uint32
	for i, name := range []string{"m=", "t=", "p="} {
		num, ok := strings.CutPrefix(kv[i], name)
		if !ok {
			return bad("parameter %d is %q, want %s<number>", i+1, kv[i], name)
		}
		v, err := parseDecimal(num)
		if err != nil {
			return bad("parameter %s%q: %v", name, num, err)
		}
		vals[i] = v
	}
	if vals[2] > 255 {
		return bad("p=%d too large", vals[2])
	}
	h.params = PasswordParams{Memory: vals[0], Time: vals[1], Threads: uint8(vals[2])}
	var err error
	if h.salt, err = base64.RawStdEncoding.Strict().DecodeString(fields[1]); err != nil {
		return bad("salt is not unpadded base64: %v", err)
	}
	if h.key, err = base64.RawStdEncoding.Strict().DecodeString(fields[2]); err != nil {
		return bad("hash is not unpadded base64: %v", err)
	}
	h.params.SaltLen, h.params.KeyLen = uint32(len(h.salt)), uint32(len(h.key))
	if err := h.params.Validate(); err != nil {
		return bad("%v", err)
	}
	if h.String() != s {
		return bad("not in canonical form")
	}
	return h, nil
}

// parseDecimal parses a canonical decimal uint32: digits only, no sign, no
// leading zero.
func parseDecimal(s string) (uint32, error) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New("not a canonical decimal number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a canonical decimal number")
		}
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, err
	}
	return uint32(v), nil
}
