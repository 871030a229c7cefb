package server

import (
	"errors"
	"io"
	"net/http"

	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/strictjson"
)

// readBody reads a request body of at most directory.MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	return readBodyMax(w, r, directory.MaxBodyBytes)
}

// readBodyMax reads a request body of at most limit bytes.
func readBodyMax(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(limit)
		}
		return nil, badRequest("reading the request body failed: %v", err)
	}
	return body, nil
}

func tooLarge(limit int64) *apiError {
	return errorf(http.StatusRequestEntityTooLarge, directory.CodeBodyTooLarge,
		"the request body is larger than %d bytes (%d KiB); send one small JSON object", limit, limit>>10)
}

// decodeStrict decodes body, which must be exactly one JSON object of at
// most directory.MaxBodyBytes, into dst, a pointer to a struct (see
// strictjson.Decode).
func decodeStrict(body []byte, dst any) *apiError {
	if len(body) > directory.MaxBodyBytes {
		return tooLarge(directory.MaxBodyBytes)
	}
	if err := strictjson.Decode(body, dst); err != nil {
		return badRequest("%v", err)
	}
	return nil
}

// decodeRegister decodes a RegisterRequest body strictly.
func decodeRegister(body []byte) (directory.RegisterRequest, *apiError) {
	var req directory.RegisterRequest
	if err := decodeStrict(body, &req); err != nil {
		return directory.RegisterRequest{}, err
	}
	return req, nil
}

// decodeLogin decodes a LoginRequest body strictly.
func decodeLogin(body []byte) (directory.LoginRequest, *apiError) {
	var req directory.LoginRequest
	if err := decodeStrict(body, &req); err != nil {
		return directory.LoginRequest{}, err
	}
	return req, nil
}
