package server

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/peercall/peercall/directory"
)

// TestLookupOfNamesWithSymbols checks that names with the symbols a name may
// hold, and names in other scripts, round-trip through the URL path.
func TestLookupOfNamesWithSymbols(t *testing.T) {
	d := newTestDir(t, nil)
	for _, name := range []string{"bob.x", "ann-y", "c_d", "zoë.ü", "東京太郎", "a-b.c_d"} {
		t.Run(name, func(t *testing.T) {
			if a := d.register(name, "a long password"); a.status != http.StatusCreated {
				t.Fatalf("register %q: %d %q", name, a.status, a.body)
			}
			a := d.do(http.MethodGet, "/v1/users/"+url.PathEscape(name), nil)
			var ur directory.UserResponse
			a.decode(t, &ur)
			if a.status != http.StatusOK || ur.Username != name {
				t.Fatalf("lookup %q: %d %+v", name, a.status, ur)
			}
		})
	}
}
