package admission

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestRefusalLogRateLimited: the first refusal is logged at info at once;
// the next ones within logEvery are only counted (and summed into the
// following log line).
func TestRefusalLogRateLimited(t *testing.T) {
	var buf bytes.Buffer
	d := newDir(t)
	a, err := New(Config{DirectoryKey: d.pub, Certificate: testCertFunc(t), Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		a.refused(ReasonHelloTimeout, "")
	}
	a.refused(ReasonCooldown, "")
	lines := strings.Count(buf.String(), "admission is refusing")
	if lines != 1 || !strings.Contains(buf.String(), "level=INFO") {
		t.Errorf("%d log lines for 101 refusals, want 1 at info:\n%s", lines, buf.String())
	}
	if got := a.m.pending[ReasonHelloTimeout]; got != 99 {
		t.Errorf("%d hello timeouts pending for the next line, want 99", got)
	}
}
