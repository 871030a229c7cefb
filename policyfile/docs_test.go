package policyfile_test

import (
	"testing"

	"github.com/peercall/peercall/chat"
	"github.com/peercall/peercall/internal/testutil"
	"github.com/peercall/peercall/relay"
	"github.com/peercall/peercall/transfer"
)

// TestPolicyKeysDocumented: every policy.toml key (relay's [relay] and
// [network], transfer's [transfer], chat's [chat]) has an entry in
// docs/policy.md for administrators, and the reference names no key that
// is gone.
func TestPolicyKeysDocumented(t *testing.T) {
	keys := testutil.TOMLKeys(relay.AdminPolicy{})
	if len(keys) < 10 {
		t.Fatalf("found only %d keys in AdminPolicy: %v", len(keys), keys)
	}
	keys = append(keys, testutil.TOMLKeys(transfer.PolicyFile{})...)
	keys = append(keys, testutil.TOMLKeys(chat.PolicyFile{})...)
	testutil.CheckKeysDocumented(t, "../docs/policy.md", keys)
}
