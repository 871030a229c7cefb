package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// TestThrottlingBehindTrustedProxy: behind a trusted proxy, clients are told
// apart by X-Forwarded-For; without trust, the header is ignored.
func TestThrottlingBehindTrustedProxy(t *testing.T) {
	for _, tc := range []struct {
		name      string
		trusted   []netip.Prefix
		secondGot int // the other client's failed login
	}{
		{"trusted", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, http.StatusUnauthorized},
		{"untrusted", nil, http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDir(t, func(c *Config) {
				l := DefaultLimits()
				l.LoginFailuresPerAddr = 1
				c.Limits = l
				c.TrustedProxies = tc.trusted
			})
			node := newNodeKey(t)
			login := func(name, client string) int {
				b, _ := json.Marshal(loginRequest(name, "wrong password", node, time.Now()))
				req, _ := http.NewRequest(http.MethodPost, d.url+"/v1/login", bytes.NewReader(b))
				req.Header.Set("X-Forwarded-For", client)
				resp, err := d.http.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if got := login("user1", "198.51.100.1"); got != http.StatusUnauthorized {
				t.Fatalf("first failure: %d", got)
			}
			if got := login("user2", "198.51.100.1"); got != http.StatusTooManyRequests {
				t.Fatalf("second failure of the same client: %d, want 429", got)
			}
			if got := login("user3", "198.51.100.2"); got != tc.secondGot {
				t.Fatalf("another client's failure: %d, want %d", got, tc.secondGot)
			}
		})
	}
}
