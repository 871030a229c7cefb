package directory

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"time"
)

// Backoff is the retry schedule of an operation a node repeats until the
// directory accepts it (a check-in, a renewal, a login after a restart):
// after each failure the wait doubles from Min up to Max and is jittered
// over [wait/2, wait]; when the directory refused with a Retry-After (429,
// 503), the wait is at least that plus a jitter of up to the same again
// (capped by the current backoff). The directory's Retry-After is whole
// seconds, so without the client's own jitter every node told "3" would
// come back in the same instant: after a mass restart (Skype, August 2007)
// that instant is the next storm. A Backoff is not safe for concurrent use:
// one belongs to one retry loop.
type Backoff struct {
	// Min and Max bound the backoff (defaults 1s and 2m).
	Min, Max time.Duration
	// Rand returns a uniform number in [0, 1) (default math/rand/v2).
	Rand func() float64

	cur time.Duration
}

// Next returns the wait before retrying after err.
func (b *Backoff) Next(err error) time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = time.Second
	}
	if hi < lo {
		hi = max(lo, 2*time.Minute)
	}
	rnd := b.Rand
	if rnd == nil {
		rnd = rand.Float64
	}
	b.cur = min(max(2*b.cur, lo), hi)
	wait := b.cur/2 + time.Duration(rnd()*float64(b.cur/2))
	if ra := RetryAfter(err); ra > 0 {
		wait = max(wait, ra+time.Duration(rnd()*float64(min(ra, b.cur))))
	}
	return wait
}

// Reset starts the schedule again from Min, after a success.
func (b *Backoff) Reset() { b.cur = 0 }

// RetryAfter is the Retry-After of a refusal (429 or 503) in err's chain,
// or 0.
func RetryAfter(err error) time.Duration {
	var apiErr *APIError
	if errors.As(err, &apiErr) && (apiErr.Status == http.StatusTooManyRequests || apiErr.Status == http.StatusServiceUnavailable) {
		return apiErr.RetryAfter
	}
	return 0
}

// Retryable reports whether a failed request is worth repeating later: the
// directory refused it for now (429, 503, or another 5xx) or could not be
// reached. A 4xx other than 429 (wrong password, bad or revoked
// certificate, disabled account) is not: repeating it changes nothing.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status == http.StatusTooManyRequests || apiErr.Status >= 500
	}
	return errors.Is(err, ErrUnavailable)
}
