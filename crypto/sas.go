package crypto

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// sasPrefix separates short authentication strings from other hashes.
const sasPrefix = "peercall-sas-v1\x00"

// ShortAuthString returns a six-digit code, written "123 456", that both
// ends of a call derive from the two DTLS certificate fingerprints and that
// the users can read to each other to detect a man in the middle.
//
// a and b are the local and remote fingerprints in any order: the result is
// the same for (a, b) and (b, a). Both ends must pass the same
// representation, e.g. the raw fingerprint digest bytes, or the SDP
// a=fingerprint value ("sha-256 AB:CD:...") as bytes, identically cased.
//
// The code is the first 64 bits of SHA-256("peercall-sas-v1\x00" ||
// len(x) || x || len(y) || y), with x <= y the fingerprints sorted bytewise
// and len a 4-byte big-endian length, reduced modulo 10^6. An attacker who
// must match it by chance succeeds once in a million calls.
func ShortAuthString(a, b []byte) string {
	if bytes.Compare(a, b) > 0 {
		a, b = b, a
	}
	h := sha256.New()
	h.Write([]byte(sasPrefix))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(a)))
	h.Write(n[:])
	h.Write(a)
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	h.Write(n[:])
	h.Write(b)
	code := binary.BigEndian.Uint64(h.Sum(nil)) % 1_000_000
	return fmt.Sprintf("%03d %03d", code/1000, code%1000)
}
