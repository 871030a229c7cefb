package server

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/budget"
	"github.com/peercall/peercall/directory/store"
)

// Bounds on what a login reports about its node.
const (
	maxAddrs   = 16
	maxAddrLen = 256
)

// login handles POST /v1/login: the cheap checks first (request shape, proof
// of the peer key, throttling), then one password verification in a hash
// slot, then a certificate.
func (s *Server) login(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	body, aerr := readBody(w, r)
	if aerr != nil {
		return 0, nil, aerr
	}
	req, aerr := decodeLogin(body)
	if aerr != nil {
		return 0, nil, aerr
	}
	name, aerr := normalizeName(req.Username)
	if aerr != nil {
		s.metrics.logins.WithLabelValues("invalid").Inc()
		return 0, nil, aerr
	}
	peerKey, aerr := s.checkProof(req)
	if aerr != nil {
		s.metrics.logins.WithLabelValues("bad_proof").Inc()
		return 0, nil, aerr
	}
	now := s.now()
	addr := budget.ClientKey(r, s.cfg.TrustedProxies)
	known, err := s.store.HasCertifiedKey(r.Context(), name, peerKey)
	if err != nil {
		return 0, nil, s.internal(r, "check certified keys", err)
	}
	ch, aerr := s.admitLogin(now, addr, name, peerKey, known)
	if aerr != nil {
		return 0, nil, aerr
	}
	ok, aerr := s.verifyPassword(r, name, req.Password)
	if aerr != nil {
		ch.refund(now, failCost)
		return 0, nil, aerr
	}
	if !ok {
		return 0, nil, errorf(http.StatusUnauthorized, directory.CodeUnauthorized,
			"wrong username or password; check both (names are not case-sensitive) and try again")
	}
	ch.refund(now, failCost-successCost)
	if u, err := s.store.User(r.Context(), name); err == nil && u.Disabled {
		s.metrics.logins.WithLabelValues("disabled").Inc()
		return 0, nil, disabledError(name)
	}
	resp, aerr := s.issue(r, name, peerKey, now)
	if aerr != nil {
		return 0, nil, aerr
	}
	s.metrics.logins.WithLabelValues("ok").Inc()
	s.log.Info("login", "user", name, "peer", peerID(peerKey), "own_machine", known)
	return http.StatusOK, resp, nil
}

// issue signs and records a certificate of name for peerKey.
func (s *Server) issue(r *http.Request, name string, peerKey ed25519.PublicKey, now time.Time) (directory.LoginResponse, *apiError) {
	serial, err := s.store.NextSerial(r.Context())
	if err != nil {
		return directory.LoginResponse{}, s.internal(r, "next serial", err)
	}
	cert, err := crypto.IssueCertificate(s.key, name, peerKey, serial, now, s.cfg.CertValidity)
	if err != nil {
		return directory.LoginResponse{}, s.internal(r, "issue certificate", err)
	}
	raw := cert.Marshal()
	err = s.store.AddCertificate(r.Context(), store.Certificate{
		Serial: serial, Username: name, PeerKey: peerKey, Issued: cert.Issued, Expires: cert.Expires, Raw: raw})
	if err != nil {
		return directory.LoginResponse{}, s.internal(r, "record certificate", err)
	}
	return directory.LoginResponse{Username: name, Certificate: raw, Expires: cert.Expires, DirectoryKey: s.pubText}, nil
}

func disabledError(name string) *apiError {
	return errorf(http.StatusForbidden, directory.CodeDisabled,
		"the account %q is disabled by the directory's operator; ask them to enable it", name)
}

// loginCharge is what admitLogin took from the budgets.
type loginCharge []budget.Ticket

// refund gives units back to each budget charged.
func (c loginCharge) refund(now time.Time, units float64) {
	for _, tk := range c {
		tk.Refund(now, units)
	}
}

// admitLogin takes a failure's worth from the budgets a login is charged
// to, or refuses it (429) touching none of them. A login proved with a key
// the account already had certified (known: the owner's own machine) is
// charged to that machine's budget alone. Any other is charged to the
// client address's budget first and then to the name's: a login the
// address budget refuses never touches the name's, so a flood of cheap
// refused logins cannot spend or evict anyone's name budget.
func (s *Server) admitLogin(now time.Time, addr, name string, peerKey []byte, known bool) (loginCharge, *apiError) {
	throttled := func(limit string, wait time.Duration, msg string) *apiError {
		s.metrics.throttled.WithLabelValues(limit).Inc()
		return &apiError{status: http.StatusTooManyRequests, code: directory.CodeThrottled, retryAfter: wait,
			message: fmt.Sprintf("%s; try again in %v (check the name and password first)", msg, wait.Round(time.Second))}
	}
	if known {
		tk, wait, ok := s.loginsByDevice.Take(name+"\x00"+string(peerKey), now, failCost)
		if !ok {
			return nil, throttled("device", wait, fmt.Sprintf("too many failed logins for %q from this machine", name))
		}
		return loginCharge{tk}, nil
	}
	ta, wait, ok := s.loginsByAddr.Take(addr, now, failCost)
	if !ok {
		return nil, throttled("addr", wait, "too many failed logins from your address")
	}
	tn, wait, ok := s.loginsByName.Take(name, now, failCost)
	if !ok {
		ta.Refund(now, failCost)
		return nil, throttled("name", wait, fmt.Sprintf("too many failed logins for %q (a machine that logged in as %q before is not held back by this)", name, name))
	}
	return loginCharge{ta, tn}, nil
}

// checkProof checks the peer key, the clock and the key holder's signature.
func (s *Server) checkProof(req directory.LoginRequest) (ed25519.PublicKey, *apiError) {
	if req.PeerKey == "" {
		return nil, badRequest("field \"peer_key\" is missing; send the node's key as ed25519:<base64url>")
	}
	key, err := crypto.ParsePublicKey(req.PeerKey)
	if err != nil {
		return nil, badRequest("field \"peer_key\": %v", err)
	}
	if req.Time.IsZero() {
		return nil, badRequest("field \"time\" is missing; send the client's current time")
	}
	if d := s.now().Sub(req.Time); d > MaxClockSkew || d < -MaxClockSkew {
		return nil, errorf(http.StatusBadRequest, directory.CodeBadProof,
			"the login time is %v away from the directory's clock (at most %v allowed); set this machine's clock right", d.Round(time.Second), MaxClockSkew)
	}
	if len(req.Proof) != ed25519.SignatureSize || !ed25519.Verify(key, directory.LoginProofMessage(req.Username, req.PeerKey, req.Time), req.Proof) {
		return nil, errorf(http.StatusBadRequest, directory.CodeBadProof,
			"field \"proof\" is not the peer key's signature over the login message (directory.LoginProofMessage of the username, peer_key and time as sent)")
	}
	return key, nil
}

// checkAddrs bounds the addresses a node reports.
func checkAddrs(addrs []string) *apiError {
	if len(addrs) > maxAddrs {
		return badRequest("field \"addrs\" has %d addresses; send at most %d", len(addrs), maxAddrs)
	}
	for _, a := range addrs {
		if len(a) == 0 || len(a) > maxAddrLen || !strings.HasPrefix(a, "/") || strings.ContainsFunc(a, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return badRequest("field \"addrs\": %.40q is not a multiaddr (printable ASCII starting with '/', at most %d bytes)", a, maxAddrLen)
		}
	}
	return nil
}

// verifyPassword checks name's password in a hash slot. An unknown user
// costs one verification of a stand-in hash, so that the answer's timing
// does not tell whether the name exists. A right password with outdated
// hash parameters is re-hashed.
func (s *Server) verifyPassword(r *http.Request, name, password string) (bool, *apiError) {
	prepared, perr := preparePassword(password)
	user, err := s.store.User(r.Context(), name)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, s.internal(r, "load user", err)
	}
	if aerr := s.acquireHash(r); aerr != nil {
		return false, aerr
	}
	defer s.hashes.Release()
	encoded := s.dummyHash
	if known {
		encoded = user.PasswordHash
	}
	if perr != nil {
		prepared = password // cannot match a stored hash; verified all the same
	}
	start := time.Now()
	ok, rehash, err := crypto.VerifyPassword(prepared, encoded, s.cfg.Password)
	s.metrics.hashSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		return false, s.internal(r, "verify password of "+name, err)
	}
	switch {
	case !known:
		s.metrics.logins.WithLabelValues("unknown_user").Inc()
		return false, nil
	case !ok || perr != nil:
		s.metrics.logins.WithLabelValues("bad_password").Inc()
		return false, nil
	}
	if rehash {
		start := time.Now()
		h, err := crypto.HashPassword(prepared, s.cfg.Password)
		s.metrics.hashSeconds.Observe(time.Since(start).Seconds())
		if err == nil {
			err = s.store.SetPasswordHash(r.Context(), name, h)
		}
		if err != nil {
			s.log.Warn("rehash password", "user", name, "err", err) // the login still succeeds
		} else {
			s.log.Info("rehashed password with current parameters", "user", name)
		}
	}
	return true, nil
}
