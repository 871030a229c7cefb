package directory

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds how a Client retries a request the directory refused
// with 429 or 503, or (for idempotent requests) one that failed on the
// network. Each wait is the directory's Retry-After, when it sent one, plus
// a "full jitter" exponential backoff: a uniformly random delay in
// [0, min(MaxDelay, BaseDelay·2^retry)). The jitter spreads the retries of
// many clients that restart together after an outage, so they do not hit the
// directory as one thundering herd at the instant Retry-After ends.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, the first included
	// (default 4; 1 disables retries).
	MaxAttempts int
	// BaseDelay is the backoff cap of the first retry (default 250ms).
	BaseDelay time.Duration
	// MaxDelay caps the backoff part of any wait (default 10s).
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for; a
	// longer one ends the retries at once and is returned in the APIError
	// (default 30s).
	MaxRetryAfter time.Duration
	// Rand returns a uniform number in [0, 1) (default math/rand/v2).
	// Tests inject a fixed source.
	Rand func() float64
	// Sleep waits d or until ctx ends (default a timer). Tests inject one
	// that records the delays instead of sleeping.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultRetryPolicy returns the policy a Client uses for unset fields.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:   4,
		BaseDelay:     250 * time.Millisecond,
		MaxDelay:      10 * time.Second,
		MaxRetryAfter: 30 * time.Second,
		Rand:          rand.Float64,
		Sleep:         sleepContext,
	}
}

// withDefaults fills the unset fields of p from DefaultRetryPolicy.
func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = d.MaxDelay
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = d.MaxRetryAfter
	}
	if p.Rand == nil {
		p.Rand = d.Rand
	}
	if p.Sleep == nil {
		p.Sleep = d.Sleep
	}
	return p
}

// Backoff returns the jittered backoff before retry number retry (0 for the
// first retry): uniform in [0, min(MaxDelay, BaseDelay·2^retry)).
func (p RetryPolicy) Backoff(retry int) time.Duration {
	p = p.withDefaults()
	ceiling := p.MaxDelay
	if retry < 62 {
		if d := p.BaseDelay << retry; d > 0 && d < ceiling {
			ceiling = d
		}
	}
	r := p.Rand()
	if r < 0 || r >= 1 {
		r = 0
	}
	return time.Duration(r * float64(ceiling))
}

// sleepContext waits d, or returns ctx's error when ctx ends first.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxRetryAfterHeader bounds the Retry-After values parsed, so a hostile
// header cannot overflow a Duration.
const maxRetryAfterHeader = 24 * time.Hour

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date
// (relative to now). It returns 0 for a missing or malformed header.
func parseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(h, 10, 32); err == nil {
		d := time.Duration(secs) * time.Second
		return min(d, maxRetryAfterHeader)
	}
	if t, err := http.ParseTime(h); err == nil {
		d := t.Sub(now)
		if d < 0 {
			return 0
		}
		return min(d, maxRetryAfterHeader)
	}
	return 0
}
