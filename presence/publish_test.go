package presence

import (
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
)

func TestPresenceRunConfig(t *testing.T) {
	cert := func() (*crypto.Certificate, error) { return nil, nil }
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"defaults", Config{Certificate: cert}, false},
		{"no certificate source", Config{}, true},
		{"TTL above the validator's limit", Config{Certificate: cert, TTL: 25 * time.Hour}, true},
		{"TTL of one second", Config{Certificate: cert, TTL: time.Second}, true},
		{"republish not shorter than TTL", Config{Certificate: cert, TTL: time.Hour, Republish: time.Hour}, true},
		{"retry longer than republish", Config{Certificate: cert, Republish: time.Minute, Retry: 2 * time.Minute}, true},
		{"negative shutdown", Config{Certificate: cert, Shutdown: -time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.withDefaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("withDefaults: %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (got.TTL != DefaultTTL || got.Republish != DefaultRepublish ||
				got.Retry != DefaultRetry || got.Shutdown != DefaultShutdown) {
				t.Errorf("defaults: TTL %v republish %v retry %v shutdown %v", got.TTL, got.Republish, got.Retry, got.Shutdown)
			}
		})
	}
}

func TestPresenceSeqIncreases(t *testing.T) {
	r := &runner{}
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var last uint64
	// A clock that stands still or steps back still yields increasing numbers.
	for i, at := range []time.Time{t0, t0, t0.Add(-time.Hour), t0.Add(time.Nanosecond), t0.Add(time.Second)} {
		s := r.nextSeq(at)
		if s <= last {
			t.Fatalf("step %d: seq %d after %d", i, s, last)
		}
		last = s
	}
	if want := uint64(t0.Add(time.Second).UnixNano()); last != want {
		t.Errorf("seq %d, want the clock's Unix nanoseconds %d", last, want)
	}
	// A restarted node (a fresh runner) a second later starts above.
	if s := (&runner{}).nextSeq(t0.Add(2 * time.Second)); s <= last {
		t.Errorf("seq after restart %d, want above %d", s, last)
	}
}
