package relay

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// SelfSignedValidity is how long a SelfSignedCertificate is valid.
const SelfSignedValidity = 365 * 24 * time.Hour

// ErrPinnedKey is wrapped by the handshake error of PinnedTLSConfig when
// the server's certificate is not made with the expected key.
var ErrPinnedKey = errors.New("TURN server certificate is not signed by the super-node's key")

// SelfSignedCertificate makes the TURN-over-TLS certificate of a
// super-node from an Ed25519 key (the node can use its libp2p identity key,
// so that a client that knows the super-node's peer ID can pin it, or a
// key of its own): self-signed, valid from an hour ago for a year, naming
// host (an IP address or a DNS name; "" names none). Pass it in
// Options.TLSCertificate.
func SelfSignedCertificate(key ed25519.PrivateKey, host string) (tls.Certificate, error) {
	if len(key) != ed25519.PrivateKeySize {
		return tls.Certificate{}, fmt.Errorf("relay TLS certificate: key is %d bytes, want an Ed25519 private key of %d", len(key), ed25519.PrivateKeySize)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("relay TLS certificate: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "peercall super-node"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(SelfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else if host != "" {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("relay TLS certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("relay TLS certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// PinnedTLSConfig is a client's TLS configuration for TURN over TLS to a
// super-node whose certificate is a SelfSignedCertificate of the Ed25519
// key pub: no name or trust-store check (the certificate is self-signed),
// but the handshake fails with ErrPinnedKey unless the certificate is
// made with pub and is valid now.
func PinnedTLSConfig(pub ed25519.PublicKey) *tls.Config {
	want := ed25519.PublicKey(bytes.Clone(pub))
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, //nolint:gosec // VerifyConnection pins the key instead of a CA and a name.
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrPinnedKey
			}
			leaf := cs.PeerCertificates[0]
			got, ok := leaf.PublicKey.(ed25519.PublicKey)
			if !ok || !got.Equal(want) {
				return ErrPinnedKey
			}
			if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
				return fmt.Errorf("%w: %w", ErrPinnedKey, err)
			}
			if now := time.Now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
				return fmt.Errorf("%w: certificate valid %v..%v", ErrPinnedKey, leaf.NotBefore, leaf.NotAfter)
			}
			return nil
		},
	}
}
