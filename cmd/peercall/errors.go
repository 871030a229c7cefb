package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/presence"
)

// Exit codes (docs/cli.md).
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitNameTaken   = 3
	exitUnknownUser = 4
	exitRejected    = 5 // call rejected or busy (the call command)
	exitAuthFailed  = 6
)

// usageError is a command line that is wrong: exit 2.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// userError is an error whose message is written for the user (what went
// wrong and what to do), while Unwrap keeps the cause for the exit code.
type userError struct {
	msg string
	err error
}

func (u *userError) Error() string { return u.msg }
func (u *userError) Unwrap() error { return u.err }

// exitCode maps an error to the exit code; the one place that does.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, directory.ErrNameTaken):
		return exitNameTaken
	case errors.Is(err, directory.ErrNotFound):
		return exitUnknownUser
	case errors.Is(err, directory.ErrAuthFailed):
		return exitAuthFailed
	case errors.Is(err, directory.ErrInvalidRequest):
		return exitUsage
	case errors.Is(err, presence.ErrUnknownUser), errors.Is(err, presence.ErrUserOffline):
		return exitUnknownUser
	case errors.Is(err, call.ErrRejected), errors.Is(err, call.ErrBusy):
		return exitRejected
	case errors.Is(err, home.ErrCertificate):
		return exitAuthFailed
	}
	return exitFailure
}

// errorCode is the stable code of err in --json output.
func errorCode(err error) string {
	var apiErr *directory.APIError
	if errors.As(err, &apiErr) && apiErr.Code != "" {
		return apiErr.Code
	}
	if code := control.ErrorCode(err); code != control.CodeFailed && code != control.CodeBadRequest {
		return code // unknown_user, offline, rejected, busy, no_answer, auth, no_such_call
	}
	switch exitCode(err) {
	case exitUsage:
		return "usage"
	case exitNameTaken:
		return directory.CodeNameTaken
	case exitUnknownUser:
		return directory.CodeNotFound
	case exitAuthFailed:
		return directory.CodeUnauthorized
	}
	if errors.Is(err, directory.ErrUnavailable) {
		return "unavailable"
	}
	return "failure"
}

// jsonError is the --json form of an error.
type jsonError struct {
	Error       string   `json:"error"`
	Message     string   `json:"message"`
	Suggestions []string `json:"suggestions,omitempty"`
}

// fail prints err (when printErr) on stderr and returns its exit code.
func (e *env) fail(err error, printErr bool) int {
	if err == nil {
		return exitOK
	}
	if printErr {
		fmt.Fprintf(e.stderr, "peercall: %v\n", err)
	}
	return exitCode(err)
}

// printJSON writes v as one JSON object on stdout.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON output: %w", err)
	}
	return nil
}

// printJSONError writes err as a jsonError on stdout and returns err.
func (e *env) printJSONError(err error) error {
	je := jsonError{Error: errorCode(err), Message: err.Error()}
	var apiErr *directory.APIError
	if errors.As(err, &apiErr) {
		je.Suggestions = apiErr.Suggestions
	}
	if perr := e.printJSON(je); perr != nil {
		return errors.Join(err, perr)
	}
	return err
}
