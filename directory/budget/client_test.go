package budget

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientKey(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		remote, xff string
		trusted     []netip.Prefix
		want        string
	}{
		{"127.0.0.1:5000", "", nil, "127.0.0.1"},
		{"[::ffff:10.0.0.1]:5000", "", nil, "10.0.0.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", nil, "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "", nil, "2001:db8:1:2::/64"},
		{"junk", "", nil, "junk"},
		// X-Forwarded-For counts only from a trusted proxy.
		{"192.0.2.7:1", "198.51.100.1", nil, "192.0.2.7"},
		{"192.0.2.7:1", "198.51.100.1", proxies, "192.0.2.7"},
		{"10.1.1.1:1", "198.51.100.1", proxies, "198.51.100.1"},
		{"10.1.1.1:1", "203.0.113.9, 198.51.100.1", proxies, "198.51.100.1"}, // the client cannot forge what the proxy appends
		{"10.1.1.1:1", "198.51.100.1, 10.2.2.2", proxies, "198.51.100.1"},    // two proxies
		{"10.1.1.1:1", "garbage, 10.2.2.2", proxies, "10.2.2.2"},
		{"10.1.1.1:1", "", proxies, "10.1.1.1"},
		{"[fd00::1]:1", "2001:db8:9::1", proxies, "2001:db8:9::/64"},
	} {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := ClientKey(r, tc.trusted); got != tc.want {
			t.Errorf("ClientKey(%q, XFF %q) = %q, want %q", tc.remote, tc.xff, got, tc.want)
		}
	}
}
