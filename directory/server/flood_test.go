package server

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
)

// TestLoginFloodShedsWithinBound floods logins at a directory allowed one
// hash at a time with a queue of two: the answers are successes or 503s with
// Retry-After (never another 5xx), and no more than one hash ever runs.
func TestLoginFloodShedsWithinBound(t *testing.T) {
	var maxRunning, maxWaiting atomic.Int64
	d := newTestDir(t, func(c *Config) {
		// Hashes slow enough (8 MiB) that the requests overlap.
		c.Password = crypto.PasswordParams{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
		l := DefaultLimits()
		l.MaxConcurrentHashes = 1
		l.MaxHashQueue = 2
		l.MaxHashWait = 20 * time.Millisecond
		l.LoginFailuresPerName = 1000
		l.LoginFailuresPerAddr = 1000
		c.Limits = l
	})
	onChange := d.srv.hashes.OnChange
	d.srv.hashes.OnChange = func(running, waiting int) {
		onChange(running, waiting)
		for old := maxRunning.Load(); int64(running) > old && !maxRunning.CompareAndSwap(old, int64(running)); old = maxRunning.Load() {
		}
		for old := maxWaiting.Load(); int64(waiting) > old && !maxWaiting.CompareAndSwap(old, int64(waiting)); old = maxWaiting.Load() {
		}
	}
	if a := d.register("flood", "flood's password"); a.status != http.StatusCreated {
		t.Fatalf("register: %d %q", a.status, a.body)
	}
	const n = 40
	var ok, shed atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			a := d.login("flood", "flood's password", newNodeKey(t))
			switch {
			case a.status == http.StatusOK:
				ok.Add(1)
			case a.status == http.StatusServiceUnavailable && a.header.Get("Retry-After") != "":
				shed.Add(1)
			default:
				t.Errorf("login in a flood: %d %q, want 200 or 503 with Retry-After", a.status, a.body)
			}
		})
	}
	wg.Wait()
	if ok.Load() == 0 || shed.Load() == 0 {
		t.Fatalf("%d succeeded and %d were shed; want some of each", ok.Load(), shed.Load())
	}
	if maxRunning.Load() > 1 || maxWaiting.Load() > 2 {
		t.Fatalf("up to %d hashes ran and %d waited; limits 1 and 2", maxRunning.Load(), maxWaiting.Load())
	}
	m := string(d.do(http.MethodGet, "/metrics", nil).body)
	if !strings.Contains(m, `peercall_directory_shed_total{route="POST /v1/login"}`) {
		t.Errorf("metrics do not count the shed logins")
	}
	t.Logf("%d logins succeeded, %d shed; at most %d hashes ran, %d waited", ok.Load(), shed.Load(), maxRunning.Load(), maxWaiting.Load())
}
