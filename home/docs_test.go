package home

import (
	"testing"

	"github.com/peercall/peercall/internal/testutil"
)

// TestConfigKeysDocumented: every config.toml key the node reads has an
// entry in docs/config.md, and the reference names no key that is gone.
func TestConfigKeysDocumented(t *testing.T) {
	keys := testutil.TOMLKeys(Config{})
	if len(keys) < 15 {
		t.Fatalf("found only %d keys in Config: %v", len(keys), keys)
	}
	testutil.CheckKeysDocumented(t, "../docs/config.md", keys)
}
