package transfer

import (
	"encoding/json"
	"testing"
)

// TestReportJSON pins the keys of `peercall send --json` that docs/cli.md
// names: lower-case, the result's included.
func TestReportJSON(t *testing.T) {
	b, err := json.Marshal(Report{ID: "x", Name: "a.pdf", Size: 3, Sent: 3, Attempts: 1,
		Result: Result{Status: StatusQuarantined, Name: "a.pdf", Reason: "scan failed"}})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "name", "size", "resumed_from", "sent", "resent", "attempts", "result"} {
		if _, ok := got[k]; !ok {
			t.Errorf("report JSON %s has no %q", b, k)
		}
	}
	res, _ := got["result"].(map[string]any)
	want := map[string]any{"status": float64(StatusQuarantined), "name": "a.pdf", "reason": "scan failed"}
	for k, v := range want {
		if res[k] != v {
			t.Errorf("result[%q] = %v, want %v (JSON %s)", k, res[k], v, b)
		}
	}
}
