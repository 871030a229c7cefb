package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/peercall/peercall/directory"
)

// apiError is an error answer: an HTTP status and an ErrorResponse body.
type apiError struct {
	status      int
	code        string
	message     string
	suggestions []string
	retryAfter  time.Duration // set on 429 and 503
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, directory.CodeBadRequest, format, args...)
}

// internalError hides the cause from the client; the caller logs it.
func internalError() *apiError {
	return errorf(http.StatusInternalServerError, directory.CodeInternal,
		"the directory failed to answer; try again later, and tell its operator if this persists")
}

// writeJSON writes v as the JSON body of a status answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal","message":"the directory could not encode its answer"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeError writes e as an ErrorResponse, with Retry-After when set.
func writeError(w http.ResponseWriter, e *apiError) {
	if e.retryAfter > 0 {
		secs := int((e.retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	}
	writeJSON(w, e.status, directory.ErrorResponse{Error: e.code, Message: e.message, Suggestions: e.suggestions})
}
