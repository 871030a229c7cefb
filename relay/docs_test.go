package relay

import (
	"testing"

	"github.com/peercall/peercall/internal/testutil"
	"github.com/peercall/peercall/transfer"
)

// TestPolicyKeysDocumented: every policy.toml key has an entry in
// docs/policy.md for administrators, and the reference names no key that
// is gone.
func TestPolicyKeysDocumented(t *testing.T) {
	keys := testutil.TOMLKeys(AdminPolicy{})
	if len(keys) < 10 {
		t.Fatalf("found only %d keys in AdminPolicy: %v", len(keys), keys)
	}
	// package transfer reads [transfer] from the same file.
	keys = append(keys, testutil.TOMLKeys(transfer.PolicyFile{})...)
	testutil.CheckKeysDocumented(t, "../docs/policy.md", keys)
}
