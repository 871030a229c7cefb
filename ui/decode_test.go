package ui

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"action":"add","name":"bob","message":"hi"}`, true},
		{`{"status":"dnd","mood":""}`, true},
		{`{"call_id":"x"}`, true},
		{`{"name":"bob","admin":true}`, false},
		{`{"name":"bob"} {"name":"eve"}`, false},
		{`[1]`, false},
		{`{"name":"` + strings.Repeat("a", maxBody) + `"}`, false},
		{``, false},
	} {
		r := httptest.NewRequest("POST", "/api/contacts", strings.NewReader(tc.body))
		if _, err := decode(r); (err == nil) != tc.ok {
			t.Errorf("%.40s: err %v, want ok %v", tc.body, err, tc.ok)
		}
	}
}

// FuzzDecode: a request body never panics the decoder, and one it takes
// is within the size limit.
func FuzzDecode(f *testing.F) {
	f.Add(`{"action":"add","name":"bob","message":"hi"}`)
	f.Add(`{"status":"away","mood":"lunch"}`)
	f.Add(`{"call_id":""}`)
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/api/call", strings.NewReader(body))
		if _, err := decode(r); err == nil && len(body) > maxBody {
			t.Fatalf("took a body of %d bytes", len(body))
		}
	})
}
