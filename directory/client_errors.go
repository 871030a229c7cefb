package directory

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors of the Client; test them with errors.Is. An error that came
// from the directory's answer is also an *APIError (errors.As) carrying the
// status, the code, the directory's message and, for ErrNameTaken, the
// suggested names.
var (
	// ErrNameTaken: the username is registered already (409 name_taken).
	ErrNameTaken = errors.New("username is taken")
	// ErrAuthFailed: wrong username or password, or a login proof the
	// directory refused (401).
	ErrAuthFailed = errors.New("authentication failed")
	// ErrNotFound: no such user (404).
	ErrNotFound = errors.New("not found")
	// ErrInvalidRequest: the directory refused the request as malformed,
	// e.g. an invalid or reserved username or a weak password (400, 413).
	ErrInvalidRequest = errors.New("request refused as invalid")
	// ErrThrottled: too many attempts; retry after APIError.RetryAfter (429).
	ErrThrottled = errors.New("throttled by the directory")
	// ErrOverloaded: the directory shed the request; retry later (503).
	ErrOverloaded = errors.New("directory overloaded")
	// ErrUnavailable: the directory could not be reached, or answered with
	// an unexpected server error.
	ErrUnavailable = errors.New("directory unavailable")
	// ErrBadResponse: the directory answered with something that is not a
	// valid answer: oversized, malformed JSON, or a certificate that does not
	// verify against the pinned key or does not name what was asked for.
	ErrBadResponse = errors.New("invalid response from the directory")
	// ErrNoPinnedKey: the operation needs the directory's public key, and the
	// client was created without one.
	ErrNoPinnedKey = errors.New("no directory key pinned")
	// ErrRevoked: the certificate was revoked (401 certificate_revoked);
	// it wraps ErrAuthFailed too.
	ErrRevoked = fmt.Errorf("certificate revoked: %w", ErrAuthFailed)
	// ErrDisabled: the operator disabled the account (403
	// account_disabled); it wraps ErrAuthFailed too.
	ErrDisabled = fmt.Errorf("account disabled: %w", ErrAuthFailed)
	// ErrReplay: a check-in no newer than the last one (409 replay).
	ErrReplay = errors.New("check-in refused as a replay")
)

// APIError is an error answer of the directory: its HTTP status, the stable
// code and message of its ErrorResponse, the suggested names of a
// name_taken answer, and the Retry-After delay of a 429 or 503.
type APIError struct {
	Status      int
	Code        string
	Message     string
	Suggestions []string
	RetryAfter  time.Duration
}

// Error says what the directory answered.
func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code != "" {
		return fmt.Sprintf("the directory answered %d %s: %s", e.Status, e.Code, msg)
	}
	return fmt.Sprintf("the directory answered %d: %s", e.Status, msg)
}

// Unwrap returns the sentinel error matching the answer (ErrNameTaken,
// ErrAuthFailed, ...), or nil for an answer no sentinel describes.
func (e *APIError) Unwrap() error {
	switch e.Code {
	case CodeNameTaken:
		return ErrNameTaken
	case CodeUnauthorized, CodeBadProof, CodeCertificate:
		return ErrAuthFailed
	case CodeRevoked:
		return ErrRevoked
	case CodeDisabled:
		return ErrDisabled
	case CodeReplay:
		return ErrReplay
	case CodeNotFound:
		return ErrNotFound
	case CodeThrottled:
		return ErrThrottled
	case CodeOverloaded:
		return ErrOverloaded
	case CodeInvalidUsername, CodeReservedName, CodeWeakPassword, CodeBadRequest, CodeBodyTooLarge, CodeStaleTime:
		return ErrInvalidRequest
	}
	switch {
	case e.Status == http.StatusConflict:
		return ErrNameTaken
	case e.Status == http.StatusUnauthorized:
		return ErrAuthFailed
	case e.Status == http.StatusNotFound:
		return ErrNotFound
	case e.Status == http.StatusTooManyRequests:
		return ErrThrottled
	case e.Status == http.StatusServiceUnavailable:
		return ErrOverloaded
	case e.Status == http.StatusBadRequest || e.Status == http.StatusRequestEntityTooLarge:
		return ErrInvalidRequest
	case e.Status >= 500:
		return ErrUnavailable
	}
	return nil
}
