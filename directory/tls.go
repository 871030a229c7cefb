package directory

import (
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/peercall/peercall/crypto"
)

// ErrKeyMismatch means the directory's TLS certificate is not made for the
// pinned directory key: the client talks to another server, or the pin is
// wrong.
var ErrKeyMismatch = errors.New("the directory's TLS key does not match the pinned directory key")

// PinnedTLSConfig returns a client TLS configuration that accepts a server
// only if the public key of its leaf certificate is pinned, the directory's
// ed25519 key. No certificate authority is consulted: the directory serves a
// self-signed certificate made for its signing key, and the TLS 1.3 handshake
// proves that the server holds the private half of the leaf's key.
func PinnedTLSConfig(pinned ed25519.PublicKey) *tls.Config {
	want := append(ed25519.PublicKey(nil), pinned...)
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The chain is not verified against a CA; VerifyConnection checks
		// the leaf key against the pin instead, on every handshake
		// including resumed ones.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: the server sent no certificate", ErrKeyMismatch)
			}
			got, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
			if !ok {
				return fmt.Errorf("%w: the server's certificate has a %T key, not ed25519; check the directory URL or the pinned key",
					ErrKeyMismatch, cs.PeerCertificates[0].PublicKey)
			}
			if len(want) != ed25519.PublicKeySize || !got.Equal(want) {
				return fmt.Errorf("%w: server key %s, pinned %s; check the directory URL or re-run init with the right --directory-key",
					ErrKeyMismatch, crypto.EncodePublicKey(got), crypto.EncodePublicKey(want))
			}
			return nil
		},
	}
}
