package directory

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestBackoffSchedule(t *testing.T) {
	shed := func(ra time.Duration) error {
		return fmt.Errorf("log in: %w", &APIError{Status: http.StatusServiceUnavailable, Code: CodeOverloaded, RetryAfter: ra})
	}
	network := fmt.Errorf("%w: connection refused", ErrUnavailable)
	tests := []struct {
		name  string
		rand  float64
		errs  []error
		waits []time.Duration
	}{
		{"doubles from Min to Max, low end of the jitter", 0, []error{network, network, network, network, network},
			[]time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}},
		{"middle of the jitter", 0.5, []error{network, network},
			[]time.Duration{750 * time.Millisecond, 1500 * time.Millisecond}},
		{"Retry-After wins over a shorter backoff", 0, []error{shed(3 * time.Second), shed(3 * time.Second)},
			[]time.Duration{3 * time.Second, 3 * time.Second}},
		// The jitter added to Retry-After is capped by the backoff: 1s
		// at the first failure, 2s at the second.
		{"Retry-After plus the client's jitter", 0.5, []error{shed(3 * time.Second), shed(3 * time.Second), shed(3 * time.Second)},
			[]time.Duration{3500 * time.Millisecond, 4 * time.Second, 4500 * time.Millisecond}},
		{"a 429's Retry-After counts too", 0, []error{&APIError{Status: http.StatusTooManyRequests, RetryAfter: 9 * time.Second}},
			[]time.Duration{9 * time.Second}},
		{"a 401 has no Retry-After", 0, []error{&APIError{Status: http.StatusUnauthorized, RetryAfter: 9 * time.Second}},
			[]time.Duration{500 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &Backoff{Min: time.Second, Max: 8 * time.Second, Rand: func() float64 { return tt.rand }}
			for i, err := range tt.errs {
				if got := b.Next(err); got != tt.waits[i] {
					t.Errorf("wait %d after %v = %v, want %v", i, err, got, tt.waits[i])
				}
			}
			b.Reset()
			if got, want := b.Next(network), (&Backoff{Min: time.Second, Max: 8 * time.Second, Rand: b.Rand}).Next(network); got != want {
				t.Errorf("after Reset the wait is %v, want the first one %v", got, want)
			}
		})
	}
}

// TestBackoffSpreadsOneRetryAfter: clients all told "Retry-After: 2" come
// back over [2s, 3s), not in one instant.
func TestBackoffSpreadsOneRetryAfter(t *testing.T) {
	const clients = 1000
	buckets := map[time.Duration]int{}
	for range clients {
		b := &Backoff{}
		w := b.Next(&APIError{Status: http.StatusServiceUnavailable, RetryAfter: 2 * time.Second})
		if w < 2*time.Second || w >= 3*time.Second {
			t.Fatalf("wait %v outside [2s, 3s)", w)
		}
		buckets[w/(100*time.Millisecond)]++
	}
	for tenth, n := range buckets {
		if n > clients/4 {
			t.Errorf("%d of %d clients retry in the same 100 ms (%v): not spread", n, clients, tenth*100*time.Millisecond)
		}
	}
	if len(buckets) < 8 {
		t.Errorf("retries fall in %d 100 ms slots of 10, want them spread", len(buckets))
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&APIError{Status: http.StatusServiceUnavailable}, true},
		{fmt.Errorf("check in: %w", &APIError{Status: http.StatusTooManyRequests}), true},
		{&APIError{Status: http.StatusInternalServerError}, true},
		{&APIError{Status: http.StatusUnauthorized}, false},
		{&APIError{Status: http.StatusForbidden}, false},
		{&APIError{Status: http.StatusConflict}, false},
		{fmt.Errorf("%w: dial tcp: connection refused", ErrUnavailable), true},
		{errors.New("check in: a node key and a certificate are required"), false},
	}
	for _, tt := range tests {
		if got := Retryable(tt.err); got != tt.want {
			t.Errorf("Retryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
