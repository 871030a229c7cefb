package testutil

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// TOMLKeys lists the dotted keys ("section.key") that decoding into v's
// type reads: every `toml` tag reachable through struct fields, pointers
// and embedded structs, leaves only. Durations and other non-struct types
// are leaves.
func TOMLKeys(v any) []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "-" {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if f.Anonymous && name == "" {
				walk(ft, prefix)
				continue
			}
			if name == "" {
				name = f.Name
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() {
				walk(ft, prefix+name+".")
				continue
			}
			out = append(out, prefix+name)
		}
	}
	walk(reflect.TypeOf(v), "")
	sort.Strings(out)
	return out
}

var docKeyHeading = regexp.MustCompile("(?m)^### `([a-z0-9_]+\\.[a-z0-9_.]+)`\\s*$")

// CheckKeysDocumented fails t unless the markdown file at path has a
// "### `section.key`" heading for every key, and no such heading for a key
// that is not one (a renamed or removed setting left in the docs).
func CheckKeysDocumented(t *testing.T, path string, keys []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the reference %s: %v", path, err)
	}
	documented := map[string]bool{}
	for _, m := range docKeyHeading.FindAllStringSubmatch(string(data), -1) {
		documented[m[1]] = true
	}
	known := map[string]bool{}
	for _, k := range keys {
		known[k] = true
		if !documented[k] {
			t.Errorf("%s is read from the file but %s has no \"### `%s`\" entry: document it", k, path, k)
		}
	}
	for k := range documented {
		if !known[k] {
			t.Errorf("%s documents `%s`, which the code does not read: remove or rename the entry", path, k)
		}
	}
}
