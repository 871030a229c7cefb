package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/peercall/peercall/directory"
)

// readBody reads a request body of at most directory.MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, directory.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge()
		}
		return nil, badRequest("reading the request body failed: %v", err)
	}
	return body, nil
}

func tooLarge() *apiError {
	return errorf(http.StatusRequestEntityTooLarge, directory.CodeBodyTooLarge,
		"the request body is larger than %d bytes (%d KiB); send one small JSON object", directory.MaxBodyBytes, directory.MaxBodyBytes>>10)
}

// decodeStrict decodes body, which must be exactly one JSON object, into
// dst, a pointer to a struct. It refuses invalid UTF-8, anything but an
// object, duplicate or unknown keys (key names match the json tags exactly,
// not case-insensitively), values of the wrong type (naming the field), and
// data after the object.
func decodeStrict(body []byte, dst any) *apiError {
	if len(body) > directory.MaxBodyBytes {
		return tooLarge()
	}
	if !utf8.Valid(body) {
		return badRequest("the request body is not valid UTF-8; send a JSON object in UTF-8")
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return badRequest("the request body is empty; send a JSON object")
	}
	if trimmed[0] != '{' {
		return badRequest("the request body is not a JSON object; send one object such as {\"username\": ...}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return badRequest("the request body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("the request body has data after the JSON object; send exactly one object")
	}
	if err := checkDuplicateKeys(body); err != nil {
		return err
	}
	fields := fieldsOf(reflect.TypeOf(dst).Elem())
	v := reflect.ValueOf(dst).Elem()
	for _, key := range slices.Sorted(maps.Keys(raw)) { // sorted: one body, one message
		val := raw[key]
		idx, ok := fields.index[key]
		if !ok {
			return badRequest("unknown field %q; the fields are %s", key, fields.list)
		}
		f := v.Field(idx)
		if err := json.Unmarshal(val, f.Addr().Interface()); err != nil {
			return badRequest("field %q: want %s: %v", key, describe(f.Type()), err)
		}
	}
	return nil
}

// checkDuplicateKeys refuses an object with a key twice at its top level
// (encoding/json would silently keep the last one).
func checkDuplicateKeys(body []byte) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	seen := map[string]bool{}
	depth := 0
	expectKey := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return badRequest("the request body is not valid JSON: %v", err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			expectKey = depth == 1
			continue
		case json.Delim('}'), json.Delim(']'):
			depth--
			expectKey = depth == 1
			continue
		}
		if depth != 1 {
			continue
		}
		if expectKey {
			key, _ := tok.(string)
			if seen[key] {
				return badRequest("field %q appears twice; send each field once", key)
			}
			seen[key] = true
		}
		expectKey = !expectKey
	}
}

// structFields are the JSON keys of a struct type.
type structFields struct {
	index map[string]int
	list  string // for messages
}

var fieldCache sync.Map // reflect.Type -> structFields

func fieldsOf(t reflect.Type) structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(structFields)
	}
	f := structFields{index: map[string]int{}}
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		f.index[name] = i
		names = append(names, fmt.Sprintf("%q", name))
	}
	f.list = strings.Join(names, ", ")
	fieldCache.Store(t, f)
	return f
}

// describe names the JSON type a Go field type expects.
func describe(t reflect.Type) string {
	switch {
	case t.String() == "time.Time":
		return "an RFC 3339 time string"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return "a base64 string"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "an array of strings"
	}
	return "a " + t.Kind().String()
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
