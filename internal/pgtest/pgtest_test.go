package pgtest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// stopTB records how a test stopped (Skip or Fatal) instead of stopping
// the real one.
type stopTB struct {
	testing.TB
	how, msg string
}

func (s *stopTB) Helper() {}
func (s *stopTB) Skip(args ...any) {
	s.how, s.msg = "skip", fmt.Sprint(args...)
	runtime.Goexit()
}
func (s *stopTB) Fatal(args ...any) {
	s.how, s.msg = "fail", fmt.Sprint(args...)
	runtime.Goexit()
}

// TestRequire checks when a PostgreSQL test runs, skips or fails.
func TestRequire(t *testing.T) {
	tests := []struct {
		name                 string
		url, ci, noPostgres  string
		wantHow, wantMessage string
	}{
		{"server given", "postgres://u:p@127.0.0.1:5432/db", "", "", "run", ""},
		{"server given under CI", "postgres://u:p@127.0.0.1:5432/db", "true", "", "run", ""},
		{"developer without a server", "", "", "", "skip", "need PEERCALL_TEST_POSTGRES"},
		{"CI=0 is no CI", "", "0", "", "skip", "need PEERCALL_TEST_POSTGRES"},
		{"CI=false is no CI", "", "false", "", "skip", "need PEERCALL_TEST_POSTGRES"},
		{"CI without a server", "", "1", "", "fail", "must run under CI"},
		{"CI=true without a server", "", "true", "", "fail", "must run under CI"},
		{"CI with the opt-out", "", "1", "1", "skip", "PEERCALL_NO_POSTGRES=1"},
		{"opt-out not 1", "", "1", "yes", "fail", "must run under CI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PEERCALL_TEST_POSTGRES", tt.url)
			t.Setenv("CI", tt.ci)
			t.Setenv(NoPostgresEnv, tt.noPostgres)
			s := &stopTB{TB: t, how: "run"}
			var got string
			done := make(chan struct{})
			go func() {
				defer close(done)
				got = Require(s)
			}()
			<-done
			if s.how != tt.wantHow || !strings.Contains(s.msg, tt.wantMessage) {
				t.Errorf("Require %s with %q; want %s with a message containing %q", s.how, s.msg, tt.wantHow, tt.wantMessage)
			}
			if tt.wantHow == "run" && got != tt.url {
				t.Errorf("Require returned %q, want %q", got, tt.url)
			}
		})
	}
}
