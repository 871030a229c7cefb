package server

import (
	"errors"
	"net/http"

	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/budget"
	"github.com/peercall/peercall/directory/store"
)

// keyProofRequest decodes a KeyProofRequest.
func (s *Server) keyProofRequest(w http.ResponseWriter, r *http.Request) (*directory.KeyProofRequest, *apiError) {
	body, aerr := readBody(w, r)
	if aerr != nil {
		return nil, aerr
	}
	var req directory.KeyProofRequest
	if aerr := decodeStrict(body, &req); aerr != nil {
		return nil, aerr
	}
	return &req, nil
}

// renew handles POST /v1/renew: a node proves possession of its key and
// gets a new certificate, without a password, while its certificate is
// valid, unrevoked, and its account active.
func (s *Server) renew(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	req, aerr := s.keyProofRequest(w, r)
	if aerr != nil {
		return 0, nil, aerr
	}
	cert, aerr := s.checkKeyProof(req.Certificate, req.Time, req.Proof, directory.KeyProofMessage(directory.ProofRenew, req.Certificate, req.Time))
	if aerr != nil {
		s.metrics.renewals.WithLabelValues(aerr.code).Inc()
		return 0, nil, aerr
	}
	if aerr := s.throttleKey(s.renewals, "renew", cert.PeerKey); aerr != nil {
		return 0, nil, aerr
	}
	u, err := s.store.User(r.Context(), cert.Username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.metrics.renewals.WithLabelValues("unknown_user").Inc()
		return 0, nil, errorf(http.StatusUnauthorized, directory.CodeCertificate, "the account %q no longer exists", cert.Username)
	case err != nil:
		return 0, nil, s.internal(r, "load user", err)
	case u.Disabled:
		s.metrics.renewals.WithLabelValues("disabled").Inc()
		return 0, nil, disabledError(cert.Username)
	}
	if known, err := s.store.HasCertifiedKey(r.Context(), cert.Username, cert.PeerKey); err != nil || !known {
		if err != nil {
			return 0, nil, s.internal(r, "check certified keys", err)
		}
		return 0, nil, errorf(http.StatusUnauthorized, directory.CodeCertificate, "this directory never certified that key for %q", cert.Username)
	}
	resp, aerr := s.issue(r, cert.Username, cert.PeerKey, s.now())
	if aerr != nil {
		return 0, nil, aerr
	}
	s.metrics.renewals.WithLabelValues("ok").Inc()
	s.log.Info("renewed", "user", cert.Username, "peer", peerID(cert.PeerKey), "old_serial", cert.Serial)
	return http.StatusOK, resp, nil
}

// revokeOwn handles POST /v1/revoke: a node revokes its own certificate
// (`peercall logout`).
func (s *Server) revokeOwn(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	req, aerr := s.keyProofRequest(w, r)
	if aerr != nil {
		return 0, nil, aerr
	}
	cert, aerr := s.checkKeyProof(req.Certificate, req.Time, req.Proof, directory.KeyProofMessage(directory.ProofRevoke, req.Certificate, req.Time))
	if aerr != nil {
		return 0, nil, aerr
	}
	if aerr := s.throttleKey(s.renewals, "renew", cert.PeerKey); aerr != nil {
		return 0, nil, aerr
	}
	ok, err := s.store.RevokeCertificate(r.Context(), cert.Serial, s.now())
	if err != nil {
		return 0, nil, s.internal(r, "revoke certificate", err)
	}
	n := 0
	if ok {
		n = 1
	}
	s.revokedHere(r, cert.Username, n)
	return http.StatusOK, directory.RevokeResponse{Revoked: n}, nil
}

// revokedHere lists this replica's revocation at once.
func (s *Server) revokedHere(r *http.Request, name string, n int) {
	if err := s.rebuildRevocations(r.Context()); err != nil {
		s.log.Warn("rebuild the revocation list after a revocation; retried every refresh", "err", err)
	}
	s.log.Info("certificates revoked", "user", name, "revoked", n)
}

// checkPassword admits and checks a password request like a login: the
// address's and the name's budgets, then one hash.
func (s *Server) checkPassword(r *http.Request, username, password string) (string, *apiError) {
	name, aerr := normalizeName(username)
	if aerr != nil {
		return "", aerr
	}
	now := s.now()
	ch, aerr := s.admitLogin(now, budget.ClientKey(r, s.cfg.TrustedProxies), name, nil, false)
	if aerr != nil {
		return "", aerr
	}
	ok, aerr := s.verifyPassword(r, name, password)
	if aerr != nil {
		ch.refund(now, failCost)
		return "", aerr
	}
	if !ok {
		return "", errorf(http.StatusUnauthorized, directory.CodeUnauthorized, "wrong username or password; check both and try again")
	}
	ch.refund(now, failCost-successCost)
	return name, nil
}

// logout handles POST /v1/logout: the password revokes every certificate
// of the account (logout everywhere: a stolen machine's key with them).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	body, aerr := readBody(w, r)
	if aerr != nil {
		return 0, nil, aerr
	}
	var req directory.LogoutRequest
	if aerr := decodeStrict(body, &req); aerr != nil {
		return 0, nil, aerr
	}
	name, aerr := s.checkPassword(r, req.Username, req.Password)
	if aerr != nil {
		return 0, nil, aerr
	}
	n, err := s.store.RevokeCertificates(r.Context(), name, s.now())
	if err != nil {
		return 0, nil, s.internal(r, "revoke certificates", err)
	}
	s.revokedHere(r, name, int(n))
	return http.StatusOK, directory.RevokeResponse{Revoked: int(n)}, nil
}

// passwd handles POST /v1/passwd.
func (s *Server) passwd(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	body, aerr := readBody(w, r)
	if aerr != nil {
		return 0, nil, aerr
	}
	var req directory.PasswdRequest
	if aerr := decodeStrict(body, &req); aerr != nil {
		return 0, nil, aerr
	}
	newPassword, aerr := preparePassword(req.NewPassword)
	if aerr != nil {
		return 0, nil, aerr
	}
	name, aerr := s.checkPassword(r, req.Username, req.Password)
	if aerr != nil {
		return 0, nil, aerr
	}
	hash, aerr := s.hash(r, newPassword)
	if aerr != nil {
		return 0, nil, aerr
	}
	if err := s.store.SetPasswordHash(r.Context(), name, hash); err != nil {
		return 0, nil, s.internal(r, "set password", err)
	}
	s.log.Info("password changed", "user", name)
	return http.StatusOK, directory.RegisterResponse{Username: name, Display: name}, nil
}
