package crypto_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/peercall/peercall/crypto"
)

// Both ends of a call pass the two DTLS fingerprints, in either order, and
// read the code to each other.
func ExampleShortAuthString() {
	local, remote := []byte("a"), []byte("b")
	fmt.Println(crypto.ShortAuthString(local, remote))
	fmt.Println(crypto.ShortAuthString(remote, local))
	// Output:
	// 660 076
	// 660 076
}

// The directory issues a certificate at login; a caller checks it against
// the pinned directory key and the key of the node it is talking to.
func ExampleIssueCertificate() {
	directoryKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	nodeKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	nodePub := nodeKey.Public().(ed25519.PublicKey)
	issued := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	cert, err := crypto.IssueCertificate(directoryKey, "alice", nodePub, 1, issued, 72*time.Hour)
	if err != nil {
		panic(err)
	}
	wire := cert.Marshal()

	got, err := crypto.ParseCertificate(wire)
	if err != nil {
		panic(err)
	}
	err = got.VerifyPeer(directoryKey.Public().(ed25519.PublicKey), nodePub, issued.Add(time.Hour))
	fmt.Println(len(wire), got.Username, got.Expires, err)
	// Output: 133 alice 2026-01-05 03:04:05 +0000 UTC <nil>
}
