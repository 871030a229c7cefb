package relay

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/relay/turncreds"
)

// ServeCredentials answers one credential request on rw, a stream from the
// peer whose authenticated identity key is remote (the node passes the
// libp2p stream's remote public key). The certificate must name that key.
// A relay at relay.max_sessions refuses at once with turncreds.CodeNotRunning. The
// caller sets the stream's deadline and closes it. The returned error is
// for logging: the peer has already been told.
func (r *Relay) ServeCredentials(rw io.ReadWriter, remote ed25519.PublicKey) error {
	body, err := turncreds.ReadFrame(rw)
	if err != nil {
		return err
	}
	q, err := turncreds.UnmarshalCredentialRequest(body)
	if err != nil {
		return errors.Join(err, r.respond(rw, turncreds.CredentialResponse{Code: turncreds.CodeBadRequest, Message: err.Error()}))
	}
	resp := turncreds.CredentialResponse{Nonce: q.Nonce}
	cert, err := crypto.ParseCertificate(q.Certificate)
	if err != nil {
		r.refuse(RefusedCertificate)
		resp.Code, resp.Message = turncreds.CodeCertificate, err.Error()
		return errors.Join(err, r.respond(rw, resp))
	}
	var creds Credentials
	if n := r.Stats().Sessions; n >= r.cfg.MaxSessions {
		// At the session cap the asker is told at once, so that it moves
		// to its next super-node instead of failing its TURN allocation.
		r.refuse(RefusedMaxSessions)
		err = fmt.Errorf("%w: at its session limit (relay.max_sessions %d): ask another super-node", ErrNotRunning, r.cfg.MaxSessions)
	} else {
		creds, err = r.IssueCredentials(cert, remote)
	}
	switch {
	case err == nil:
		resp.Credentials = creds
	case errors.Is(err, ErrCertificate):
		resp.Code, resp.Message = turncreds.CodeCertificate, err.Error()
	case errors.Is(err, ErrNotRunning):
		resp.Code, resp.Message = turncreds.CodeNotRunning, err.Error()
	default:
		resp.Code, resp.Message = turncreds.CodeInternal, "internal error"
	}
	return errors.Join(err, r.respond(rw, resp))
}

func (r *Relay) respond(w io.Writer, p turncreds.CredentialResponse) error {
	b, err := p.Marshal()
	if err != nil {
		return err
	}
	return turncreds.WriteFrame(w, b)
}
