package server

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/peercall/peercall/directory"
)

// TestWritesShedWhenBusy: with every write slot taken and no queue, a
// check-in, a renewal and a revocation are answered 503 overloaded at once
// with a Retry-After in the configured bounds, counted by route; a lookup
// still answers; once a slot is free, the check-in goes through.
func TestWritesShedWhenBusy(t *testing.T) {
	d := newTestDir(t, func(c *Config) {
		c.Limits = DefaultLimits()
		c.Limits.MaxConcurrentWrites, c.Limits.MaxWriteQueue = 1, 0
		c.Limits.RetryAfterMin, c.Limits.RetryAfterMax = 2*time.Second, 3*time.Second
	})
	d.register("wendy", "a long password")
	node := newNodeKey(t)
	cert := d.loginCert("wendy", "a long password", node)
	if a := d.checkin(node, cert, []string{"/ip4/127.0.0.1/tcp/1"}, false); a.status != http.StatusOK {
		t.Fatalf("check-in with a free slot: %d %s", a.status, a.body)
	}
	if !d.srv.writes.Acquire(context.Background()) {
		t.Fatal("the test could not take the only write slot")
	}
	held := true
	defer func() {
		if held {
			d.srv.writes.Release()
		}
	}()
	tests := []struct {
		name, path string
		body       any
	}{
		{"check-in", "/v1/checkin", checkinRequest(node, cert, d.srv.now().Add(time.Second), []string{"/ip4/127.0.0.1/tcp/2"}, false, false)},
		{"renewal", "/v1/renew", keyProof(node, cert, directory.ProofRenew, d.srv.now())},
		{"revocation", "/v1/revoke", keyProof(node, cert, directory.ProofRevoke, d.srv.now())},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := d.post(tc.path, tc.body)
			if a.status != http.StatusServiceUnavailable || a.errorBody(t).Error != directory.CodeOverloaded {
				t.Fatalf("%s with no write slot: %d %s, want 503 %s", tc.name, a.status, a.body, directory.CodeOverloaded)
			}
			if ra, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || ra < 2 || ra > 3 {
				t.Errorf("Retry-After %q, want 2 or 3 seconds", a.header.Get("Retry-After"))
			}
			if n := testutil.ToFloat64(d.srv.metrics.shed.WithLabelValues("POST " + tc.path)); n != 1 {
				t.Errorf("shed counter of POST %s = %v, want 1", tc.path, n)
			}
		})
	}
	if a := d.do(http.MethodGet, "/v1/users/wendy", nil); a.status != http.StatusOK {
		t.Fatalf("lookup while writes are shed: %d %s", a.status, a.body)
	}
	d.srv.writes.Release()
	held = false
	if a := d.post("/v1/checkin", checkinRequest(node, cert, d.srv.now().Add(2*time.Second), []string{"/ip4/127.0.0.1/tcp/3"}, false, false)); a.status != http.StatusOK {
		t.Fatalf("check-in once the slot is free: %d %s", a.status, a.body)
	}
}

// keyProof is a renewal's or revocation's request by node for cert.
func keyProof(node ed25519.PrivateKey, cert []byte, purpose string, at time.Time) directory.KeyProofRequest {
	return directory.KeyProofRequest{Certificate: cert, Time: at.UTC(),
		Proof: ed25519.Sign(node, directory.KeyProofMessage(purpose, cert, at))}
}
