package transfer

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestQuarantineCap: transfer.max_quarantine bounds the quarantine folder:
// a file a scan keeps counts against it, so the next offer that would not
// fit is refused before any byte moves (code transfer.max_quarantine),
// with the policy's cap winning over a larger one of the user's.
func TestQuarantineCap(t *testing.T) {
	keep := scanScript(t, `echo "$1: kept for the test"; exit 1`)
	rules := Effective(Settings{MaxQuarantine: 1 << 30}, "config.toml", Settings{MaxQuarantine: 1000, ScanCommand: []string{keep, "{}"}}, "policy.toml")
	if rules.MaxQuarantine != 1000 || !strings.Contains(strings.Join(rules.Describe(), "\n"), "max_quarantine: 1000 bytes (policy.toml)") {
		t.Fatalf("rules %+v", rules.Describe())
	}
	p := newPeer(t, rules, nil)
	var refused *RefusedError
	_, err := Send(context.Background(), sendCfg(p, "alice"), writeFile(t, t.TempDir(), "a.txt", randomBytes(t, 600)))
	if !errors.As(err, &refused) || !refused.Quarantined {
		t.Fatalf("first file: %v, want it kept in quarantine", err)
	}
	for _, size := range []int{600, 2000} {
		_, err = Send(context.Background(), sendCfg(p, "alice"), writeFile(t, t.TempDir(), "b.txt", randomBytes(t, size)))
		if !errors.As(err, &refused) || refused.Quarantined || !strings.Contains(refused.Reason, "over its limit of 1000 (transfer.max_quarantine in policy.toml)") {
			t.Fatalf("%d bytes more: %v, want a refusal naming transfer.max_quarantine", size, err)
		}
		if e := p.waitEvent("refused"); e.Code != "transfer.max_quarantine" {
			t.Fatalf("refusal code %q", e.Code)
		}
	}
	if err := (Settings{MaxQuarantine: -1}).Validate("config.toml"); err == nil || !strings.Contains(err.Error(), "transfer.max_quarantine -1 is negative") {
		t.Fatalf("validate: %v", err)
	}
}
