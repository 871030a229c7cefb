package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/budget"
	"github.com/peercall/peercall/directory/lookalike"
	"github.com/peercall/peercall/directory/store"
)

// Password length rules, in characters (Unicode code points).
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
	// minSuggestions free alternatives answer a taken name.
	minSuggestions = 3
)

// normalizeName maps Normalize's errors to API errors.
func normalizeName(name string) (string, *apiError) {
	n, err := directory.Normalize(name)
	switch {
	case errors.Is(err, directory.ErrReservedUsername):
		return "", errorf(http.StatusBadRequest, directory.CodeReservedName, "%v", err)
	case err != nil:
		return "", errorf(http.StatusBadRequest, directory.CodeInvalidUsername, "%v", err)
	}
	return n, nil
}

// preparePassword applies the PRECIS OpaqueString profile (RFC 8265), so
// that one password typed in two Unicode forms is one password, and the
// length rules.
func preparePassword(p string) (string, *apiError) {
	if n := utf8.RuneCountInString(p); n < MinPasswordLen || n > MaxPasswordLen {
		return "", errorf(http.StatusBadRequest, directory.CodeWeakPassword,
			"the password is %d characters; use %d to %d characters", n, MinPasswordLen, MaxPasswordLen)
	}
	out, err := precis.OpaqueString.String(p)
	if err != nil {
		return "", errorf(http.StatusBadRequest, directory.CodeWeakPassword,
			"the password contains a character that is not allowed (control characters are not): %v", err)
	}
	return out, nil
}

// register handles POST /v1/register.
func (s *Server) register(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	body, aerr := readBody(w, r)
	if aerr != nil {
		return 0, nil, aerr
	}
	req, aerr := decodeRegister(body)
	if aerr != nil {
		return 0, nil, aerr
	}
	name, aerr := normalizeName(req.Username)
	if aerr != nil {
		s.metrics.registrations.WithLabelValues(map[string]string{
			directory.CodeReservedName: "reserved", directory.CodeInvalidUsername: "invalid"}[aerr.code]).Inc()
		return 0, nil, aerr
	}
	password, aerr := preparePassword(req.Password)
	if aerr != nil {
		s.metrics.registrations.WithLabelValues("weak_password").Inc()
		return 0, nil, aerr
	}
	now := s.now()
	tk, wait, ok := s.registers.Take(budget.ClientKey(r, s.cfg.TrustedProxies), now, 1)
	if !ok {
		s.metrics.throttled.WithLabelValues("register").Inc()
		return 0, nil, &apiError{status: http.StatusTooManyRequests, code: directory.CodeThrottled, retryAfter: wait,
			message: fmt.Sprintf("too many registrations from your address (%d per %v); try again in %v",
				s.cfg.Limits.RegistrationsPerAddr, s.cfg.Limits.RegistrationWindow, wait.Round(time.Second))}
	}
	created := false
	defer func() {
		if !created {
			tk.Refund(now, 1) // only registrations that succeed count
		}
	}()
	// A name known to be taken, or to look like a taken one, is answered
	// before the costly hash.
	if aerr := s.checkNameFree(r.Context(), name); aerr != nil {
		return 0, nil, aerr
	}
	hash, aerr := s.hash(r, password)
	if aerr != nil {
		return 0, nil, aerr
	}
	err := s.store.CreateUser(r.Context(), store.User{Name: name, Display: req.Username, PasswordHash: hash, Created: now.UTC()})
	if errors.Is(err, store.ErrNameTaken) {
		// Taken meanwhile, by this name or a look-alike: say which.
		if aerr := s.checkNameFree(r.Context(), name); aerr != nil {
			return 0, nil, aerr
		}
		return 0, nil, s.nameTaken(r.Context(), name, "")
	}
	if err != nil {
		return 0, nil, s.internal(r, "create user", err)
	}
	created = true
	s.metrics.registrations.WithLabelValues("created").Inc()
	s.log.Info("registered", "user", name)
	return http.StatusCreated, directory.RegisterResponse{Username: name, Display: req.Username}, nil
}

// checkNameFree refuses a normalised name that is taken (409), that looks
// like a taken one (409, the same answer: the look-alike is taken), or
// that mixes scripts the way look-alikes do (400).
func (s *Server) checkNameFree(ctx context.Context, name string) *apiError {
	skeleton := lookalike.Skeleton(name)
	taken, err := s.store.Taken(ctx, []string{name})
	if err != nil {
		return s.internalCtx("check name", err)
	}
	if taken[name] {
		return s.nameTaken(ctx, name, "")
	}
	owners, err := s.store.SkeletonOwners(ctx, []string{skeleton})
	if err != nil {
		return s.internalCtx("check look-alikes", err)
	}
	if owner, ok := owners[skeleton]; ok {
		return s.nameTaken(ctx, name, owner)
	}
	if err := lookalike.CheckScripts(name); err != nil {
		s.metrics.registrations.WithLabelValues("mixed_scripts").Inc()
		return errorf(http.StatusBadRequest, directory.CodeInvalidUsername, "%v", err)
	}
	return nil
}

// nameTaken answers 409 with at least minSuggestions names that are free
// now: not taken, looking like no taken name nor like each other, and in
// one script. like is the existing name that name looks like, if any;
// suggestions are then made from it too.
func (s *Server) nameTaken(ctx context.Context, name, like string) *apiError {
	result, msg := "taken", fmt.Sprintf("the name %q is taken; choose another, for example one of the suggestions", name)
	if like != "" {
		result = "look_alike"
		msg = fmt.Sprintf("the name %q is taken: it looks like %q, which is registered; choose another, for example one of the suggestions", name, like)
	}
	s.metrics.registrations.WithLabelValues(result).Inc()
	var free, freeSkels []string
	for round := 0; round < 4 && len(free) < minSuggestions; round++ {
		n := 12 + round*12
		cands := directory.Suggestions(name, n)
		if like != "" {
			cands = append(directory.Suggestions(like, n), cands...)
		}
		skels := make([]string, len(cands))
		for i, c := range cands {
			skels[i] = lookalike.Skeleton(c)
		}
		taken, err := s.store.Taken(ctx, cands)
		if err != nil {
			s.log.Warn("check suggestions", "user", name, "err", err)
			break
		}
		owners, err := s.store.SkeletonOwners(ctx, skels)
		if err != nil {
			s.log.Warn("check suggestions", "user", name, "err", err)
			break
		}
		for i, c := range cands {
			if _, alike := owners[skels[i]]; taken[c] || alike || contains(freeSkels, skels[i]) || lookalike.CheckScripts(c) != nil {
				continue
			}
			free, freeSkels = append(free, c), append(freeSkels, skels[i])
			if len(free) == 5 {
				break
			}
		}
	}
	return &apiError{status: http.StatusConflict, code: directory.CodeNameTaken, suggestions: free, message: msg}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hash computes a new password hash inside a hash slot.
func (s *Server) hash(r *http.Request, password string) (string, *apiError) {
	if aerr := s.acquireHash(r); aerr != nil {
		return "", aerr
	}
	defer s.hashes.Release()
	start := time.Now()
	h, err := crypto.HashPassword(password, s.cfg.Password)
	s.metrics.hashSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		return "", s.internal(r, "hash password", err)
	}
	return h, nil
}

// acquireHash takes a hash slot or answers 503 overloaded.
func (s *Server) acquireHash(r *http.Request) *apiError {
	if s.hashes.Acquire(r.Context()) {
		return nil
	}
	route := r.Pattern
	s.metrics.shed.WithLabelValues(route).Inc()
	return &apiError{status: http.StatusServiceUnavailable, code: directory.CodeOverloaded,
		retryAfter: jitter(s.cfg.Limits.RetryAfterMin, s.cfg.Limits.RetryAfterMax),
		message:    "the directory is busy checking passwords; retry after the delay in Retry-After"}
}

// internalCtx is internal for code without the request at hand.
func (s *Server) internalCtx(what string, err error) *apiError {
	s.log.Error(what, "err", err)
	return internalError()
}

// internal logs an internal failure and hides it from the client.
func (s *Server) internal(r *http.Request, what string, err error) *apiError {
	s.log.Error(what, "route", r.Pattern, "err", err)
	return internalError()
}
