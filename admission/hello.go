package admission

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"time"

	ic "github.com/libp2p/go-libp2p/core/crypto"
	icpb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/internal/wire"
)

// HelloProtocol is the certificate exchange. Right after a connection
// comes up, the dialing side opens one stream and sends a hello; the
// listening side checks it and answers with its own, then both close:
//
//	hello = length:uint16 big-endian | version:u8 (=1) | certificate
//
// where certificate is crypto.Certificate's canonical encoding (at most
// crypto.MaxCertificateSize bytes) and must name the Noise-authenticated
// key of the peer that sends it. A side whose hello is refused gets the
// stream reset instead of an answer.
const HelloProtocol = protocol.ID("/peercall/hello/1")

const (
	helloVersion = 1
	maxHello     = 1 + crypto.MaxCertificateSize
)

// ErrHelloMalformed is wrapped by decodeHello's refusals.
var ErrHelloMalformed = errors.New("hello is malformed")

func encodeHello(cert *crypto.Certificate) []byte {
	return append([]byte{helloVersion}, cert.Marshal()...)
}

// decodeHello decodes a hello's body strictly: version 1 and one
// canonical certificate, nothing after it.
func decodeHello(b []byte) (*crypto.Certificate, error) {
	r := wire.NewReader(b, ErrHelloMalformed)
	if v := r.Uint8(); r.Err() == nil && v != helloVersion {
		return nil, fmt.Errorf("hello version %d, this program understands %d; upgrade peercall: %w", v, helloVersion, ErrHelloMalformed)
	}
	raw := r.Bytes(r.Len())
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("decode hello: %w", err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("decode hello: no certificate: %w", ErrHelloMalformed)
	}
	cert, err := crypto.ParseCertificate(raw)
	if err != nil {
		return nil, fmt.Errorf("decode hello: %w", err)
	}
	return cert, nil
}

func writeHello(w io.Writer, cert *crypto.Certificate) error {
	return wire.WriteFrame(w, encodeHello(cert), maxHello)
}

func readHello(r io.Reader) (*crypto.Certificate, error) {
	body, err := wire.ReadFrame(r, maxHello, ErrHelloMalformed)
	if err != nil {
		return nil, fmt.Errorf("read hello: %w", err)
	}
	return decodeHello(body)
}

// peerKey returns the ed25519 identity key that p embeds.
func peerKey(p peer.ID) (ed25519.PublicKey, error) {
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", p, err)
	}
	return ed25519Key(pub)
}

func ed25519Key(k ic.PubKey) (ed25519.PublicKey, error) {
	if k == nil || k.Type() != icpb.KeyType_Ed25519 {
		return nil, errors.New("the peer's key is not ed25519; peercall node keys are ed25519")
	}
	raw, err := k.Raw()
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("the peer's ed25519 key does not decode (%v)", err)
	}
	return ed25519.PublicKey(raw), nil
}

// verify checks that cert is the directory's and names p.
func (a *Admission) verify(cert *crypto.Certificate, p peer.ID) error {
	key, err := peerKey(p)
	if err != nil {
		return err
	}
	if err := cert.VerifyPeer(a.cfg.DirectoryKey, key, a.now()); err != nil {
		return err
	}
	if a.cfg.Revoked != nil && a.cfg.Revoked(cert.Serial) {
		return fmt.Errorf("%w: certificate %d of %q is on the directory's revocation list", ErrRevoked, cert.Serial, cert.Username)
	}
	return nil
}

// handleHello answers a hello: the peer's certificate is checked, the peer
// certified, and ours sent back.
func (a *Admission) handleHello(s network.Stream) {
	p := s.Conn().RemotePeer()
	_ = s.SetDeadline(time.Now().Add(a.lim.HelloTimeout))
	cert, err := readHello(s)
	if err == nil {
		err = a.verify(cert, p)
	}
	if err != nil {
		_ = s.Reset()
		a.refuseBadCertificate(p, err)
		return
	}
	a.Certify(p, cert)
	mine, err := a.cfg.Certificate()
	if err != nil {
		_ = s.Reset()
		a.log.Warn("cannot answer a hello: our certificate is unusable; run `peercall login`", "err", err)
		return
	}
	if err := writeHello(s, mine); err != nil {
		_ = s.Reset()
		a.log.Debug("hello answer not sent", "peer", p, "err", err)
		return
	}
	_ = s.Close()
}

// hello runs the dialing side's exchange with p.
func (a *Admission) hello(p peer.ID) error {
	ctx, cancel := context.WithTimeout(a.ctx, a.lim.HelloTimeout)
	defer cancel()
	mine, err := a.cfg.Certificate()
	if err != nil {
		return fmt.Errorf("our certificate is unusable (run `peercall login`): %w", err)
	}
	// A peer behind a NAT is reached over a super-node's circuit: a
	// limited connection, enough for a hello.
	s, err := a.host.NewStream(network.WithAllowLimitedConn(ctx, "hello"), p, HelloProtocol)
	if err != nil {
		return fmt.Errorf("open %s: %w", HelloProtocol, err)
	}
	defer s.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(d)
	}
	if err := writeHello(s, mine); err != nil {
		_ = s.Reset()
		return fmt.Errorf("send hello: %w", err)
	}
	cert, err := readHello(s)
	if err != nil {
		_ = s.Reset()
		return fmt.Errorf("%w (the peer refused our certificate, or is no peercall node of this directory)", err)
	}
	if err := a.verify(cert, p); err != nil {
		return err
	}
	a.Certify(p, cert)
	return nil
}
