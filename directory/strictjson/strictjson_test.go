package strictjson

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

type sample struct {
	Name  string    `json:"name"`
	Time  time.Time `json:"time"`
	Addrs []string  `json:"addrs"`
	Flag  bool      `json:"flag,omitempty"`
	Raw   []byte    `json:"raw"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, body, mention string // mention "" means accepted
	}{
		{"good", `{"name":"a","addrs":["x"],"flag":true,"raw":"AAAA"}`, ""},
		{"empty object", `{}`, ""},
		{"empty", ` `, "empty"},
		{"array", `[]`, "not a JSON object"},
		{"invalid UTF-8", "{\"name\":\"\xff\"}", "UTF-8"},
		{"truncated", `{"name":`, "not valid JSON"},
		{"trailing", `{} {}`, "after the JSON object"},
		{"unknown", `{"nme":"a"}`, `unknown field "nme"`},
		{"other case", `{"Name":"a"}`, `unknown field "Name"`},
		{"twice", `{"name":"a","name":"b"}`, "appears twice"},
		{"wrong type", `{"flag":"yes"}`, `field "flag": want true or false`},
		{"bad time", `{"time":"yesterday"}`, "RFC 3339"},
		{"bad base64", `{"raw":"!!"}`, "base64"},
		{"addrs not strings", `{"addrs":[1]}`, "array of strings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s sample
			err := Decode([]byte(tc.body), &s)
			switch {
			case tc.mention == "" && err != nil:
				t.Fatalf("Decode(%q) = %v, want accepted", tc.body, err)
			case tc.mention != "" && (err == nil || !strings.Contains(err.Error(), tc.mention)):
				t.Fatalf("Decode(%q) = %v, want an error mentioning %q", tc.body, err, tc.mention)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"name":"a","addrs":["x"]}`, `{"name":"a","name":"b"}`, `{"x":1}`, `[]`, `{} x`, `{"raw":"!!"}`, "{\"a\":{\"b\":[1,{\"c\":2}]}}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s sample
		err := Decode(b, &s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil {
			t.Fatalf("accepted %q that is not a JSON object", b)
		}
		for k := range m {
			if !Known(reflect.TypeOf(s), k) {
				t.Fatalf("accepted unknown key %q in %q", k, b)
			}
		}
	})
}
