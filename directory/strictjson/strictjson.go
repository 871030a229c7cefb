package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Decode decodes body, which must be exactly one JSON object, into dst, a
// pointer to a struct. It refuses invalid UTF-8, anything but an object,
// duplicate or unknown keys (key names match the json tags exactly, not
// case-insensitively), values of the wrong type (naming the field), and
// data after the object. The error's text is meant for the sender.
func Decode(body []byte, dst any) error {
	if !utf8.Valid(body) {
		return errors.New("the request body is not valid UTF-8; send a JSON object in UTF-8")
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return errors.New("the request body is empty; send a JSON object")
	}
	if trimmed[0] != '{' {
		return errors.New("the request body is not a JSON object; send one object such as {\"username\": ...}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("the request body is not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("the request body has data after the JSON object; send exactly one object")
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
			return fmt.Errorf("unknown field %q; the fields are %s", key, fields.list)
		}
		f := v.Field(idx)
		if err := json.Unmarshal(val, f.Addr().Interface()); err != nil {
			return fmt.Errorf("field %q: want %s: %w", key, describe(f.Type()), err)
		}
	}
	return nil
}

// Known reports whether key is the json tag of a field of struct type t.
func Known(t reflect.Type, key string) bool {
	_, ok := fieldsOf(t).index[key]
	return ok
}

// checkDuplicateKeys refuses an object with a key twice at its top level
// (encoding/json would silently keep the last one).
func checkDuplicateKeys(body []byte) error {
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
			return fmt.Errorf("the request body is not valid JSON: %w", err)
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
				return fmt.Errorf("field %q appears twice; send each field once", key)
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
