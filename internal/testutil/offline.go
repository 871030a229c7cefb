package testutil

import "testing"

// OfflinePackages are the packages whose offline quality measures
// (SkipOfflineUnderRace) scripts/test.sh runs a second time without -race.
// A package that starts calling SkipOfflineUnderRace must be added here and
// there, or its measure runs nowhere in make test (TestOfflinePackages
// checks the list against scripts/test.sh).
var OfflinePackages = []string{"./dsp/", "./voicemail/", "./internal/testaudio/"}

// SkipOfflineUnderRace skips t in a -race build. It is for tests that
// measure quality over seconds of audio (an echo canceller's ERLE, a
// codec's fidelity): arithmetic the race detector makes ten to thirty
// times slower (a fifth of make test's time) while the package's shorter
// tests already exercise the same code's goroutines under -race. make test
// runs them without -race instead, so CI still runs every one of them.
func SkipOfflineUnderRace(t testing.TB) {
	t.Helper()
	if Race {
		t.Skip("offline quality measure: skipped under -race, which only slows it; make test runs it without -race (scripts/test.sh: go test -count=1 ./dsp/ ./voicemail/ ./internal/testaudio/)")
	}
}
