package server

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/budget"
	"github.com/peercall/peercall/directory/store"
)

// checkKeyProof checks a request signed with a node key: the certificate
// is this directory's, unexpired and not revoked, the time is within
// MaxClockSkew, and the certificate's key signed msg.
func (s *Server) checkKeyProof(raw []byte, t time.Time, proof, msg []byte) (*crypto.Certificate, *apiError) {
	if len(raw) == 0 || t.IsZero() || len(proof) == 0 {
		return nil, badRequest("fields \"certificate\", \"time\" and \"proof\" are required")
	}
	now := s.now()
	cert, err := crypto.ParseCertificate(raw)
	if err == nil {
		err = cert.Verify(s.key.Public().(ed25519.PublicKey), now)
	}
	if err != nil {
		return nil, errorf(http.StatusUnauthorized, directory.CodeCertificate,
			"the certificate cannot be used: %v; run `peercall login` for a new one", err)
	}
	if d := now.Sub(t); d > MaxClockSkew || d < -MaxClockSkew {
		return nil, errorf(http.StatusBadRequest, directory.CodeStaleTime,
			"the request's time is %v away from the directory's clock (at most %v allowed); set this machine's clock right", d.Round(time.Second), MaxClockSkew)
	}
	if len(proof) != ed25519.SignatureSize || !ed25519.Verify(cert.PeerKey, msg, proof) {
		return nil, errorf(http.StatusBadRequest, directory.CodeBadProof,
			"field \"proof\" is not a signature by the key the certificate of %q names: only the node holding that key may use it", cert.Username)
	}
	if s.revoked(cert.Serial) {
		return nil, errorf(http.StatusUnauthorized, directory.CodeRevoked,
			"certificate %d of %q is revoked; run `peercall login` for a new one", cert.Serial, cert.Username)
	}
	return cert, nil
}

// throttleKey takes one unit of a node key's budget in t, or answers 429.
func (s *Server) throttleKey(t *budget.Table, limit string, key []byte) *apiError {
	_, wait, ok := t.Take(string(key), s.now(), 1)
	if ok {
		return nil
	}
	return s.throttled(limit, wait)
}

// throttled is the 429 of a node key's spent budget, counted under limit.
func (s *Server) throttled(limit string, wait time.Duration) *apiError {
	s.metrics.throttled.WithLabelValues(limit).Inc()
	return &apiError{status: http.StatusTooManyRequests, code: directory.CodeThrottled, retryAfter: wait,
		message: fmt.Sprintf("too many %s requests from this node; try again in %v", limit, wait.Round(time.Second))}
}

// checkin handles POST /v1/checkin: a node says where it is (or, with
// withdraw, that it signs off). The cheap checks come first (size, shape,
// signatures, time, the key's budget); one conditional write records it.
func (s *Server) checkin(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	body, aerr := readBodyMax(w, r, directory.MaxCheckinBytes)
	if aerr != nil {
		s.metrics.checkins.WithLabelValues("invalid").Inc()
		return 0, nil, aerr
	}
	var req directory.CheckinRequest
	if aerr := decodeStrict(body, &req); aerr != nil {
		s.metrics.checkins.WithLabelValues("invalid").Inc()
		return 0, nil, aerr
	}
	if aerr := checkAddrs(req.Addrs); aerr != nil {
		s.metrics.checkins.WithLabelValues("invalid").Inc()
		return 0, nil, aerr
	}
	// A key whose own check-ins spent its budget is refused before the
	// two signatures are checked: a flood from one key costs a parse, not
	// two ed25519 verifications. Only verified check-ins spend the budget,
	// so a request forged with another node's key cannot spend theirs.
	if c, err := crypto.ParseCertificate(req.Certificate); err == nil {
		if wait, short := s.checkins.Short(string(c.PeerKey), s.now(), 1); short {
			return 0, nil, s.throttled("checkin", wait)
		}
	}
	cert, aerr := s.checkKeyProof(req.Certificate, req.Time, req.Proof,
		directory.CheckinProofMessage(req.Certificate, req.Time, req.Addrs, req.SuperNode, req.Withdraw))
	if aerr != nil {
		s.metrics.checkins.WithLabelValues(aerr.code).Inc()
		return 0, nil, aerr
	}
	if aerr := s.throttleKey(s.checkins, "checkin", cert.PeerKey); aerr != nil {
		return 0, nil, aerr
	}
	now := s.now()
	ip, _ := budget.ClientIP(r, s.cfg.TrustedProxies)
	addrs := req.Addrs
	if addrs == nil || req.Withdraw {
		addrs = []string{}
	}
	sg := store.Sighting{Username: cert.Username, PeerID: peerID(cert.PeerKey), Addrs: addrs,
		Source: budget.ClientKey(r, s.cfg.TrustedProxies), Seen: req.Time.UTC().Truncate(time.Microsecond),
		Expires: now.UTC().Add(s.cfg.CheckinTTL).Truncate(time.Microsecond)}
	if req.Withdraw {
		sg.Expires = now.UTC().Truncate(time.Microsecond).Add(-time.Microsecond)
	}
	queue := func() {}
	if req.SuperNode && !req.Withdraw && s.super != nil && ip.IsValid() {
		sg.VerifiedAddrs, queue = s.super.claim(ip, sg, cert.PeerKey, addrs)
		sg.SuperNode = len(sg.VerifiedAddrs) > 0
	}
	err := s.store.Seen(r.Context(), sg)
	switch {
	case errors.Is(err, store.ErrStale):
		s.metrics.checkins.WithLabelValues("replay").Inc()
		return 0, nil, errorf(http.StatusConflict, directory.CodeReplay,
			"a check-in of this node as new as %s is recorded already: a replay, or this machine's clock went back", req.Time.UTC().Format(time.RFC3339Nano))
	case errors.Is(err, store.ErrDisabled):
		s.metrics.checkins.WithLabelValues("disabled").Inc()
		return 0, nil, disabledError(cert.Username)
	case errors.Is(err, store.ErrNotFound):
		s.metrics.checkins.WithLabelValues("unknown_user").Inc()
		return 0, nil, errorf(http.StatusUnauthorized, directory.CodeCertificate, "the account %q no longer exists", cert.Username)
	case err != nil:
		return 0, nil, s.internal(r, "record check-in", err)
	}
	queue() // after Seen: the dial-back marks this very sighting
	result := "ok"
	if req.Withdraw {
		result = "withdrawn"
	}
	s.metrics.checkins.WithLabelValues(result).Inc()
	s.log.Debug("check-in", "user", cert.Username, "peer", sg.PeerID, "addrs", len(addrs), "withdraw", req.Withdraw, "super_node", req.SuperNode)
	return http.StatusOK, directory.CheckinResponse{Expires: sg.Expires, IntervalSeconds: int(s.cfg.CheckinTTL * 2 / 5 / time.Second)}, nil
}
