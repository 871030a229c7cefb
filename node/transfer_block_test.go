package node_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/transfer"
)

// TestSendFileBlocked: once bob blocks alice in his contact list, her
// offer is refused (code "blocked") before any byte moves, even though she
// is in his transfer.auto_accept_from; unblocked, it arrives.
func TestSendFileBlocked(t *testing.T) {
	alice, bob, bobHome := fileNodes(t, &home.TransferConfig{AutoAcceptFrom: []string{"alice"}}, "")
	path := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(path, []byte("hello bob"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := fileCtx(t)
	if err := bob.Contacts().Block(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	_, err := alice.SendFile(ctx, "bob", path, nil)
	var refused *transfer.RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("send to bob who blocked alice: %v", err)
	}
	list := bob.Transfers()
	if len(list) != 1 || list[0].State != "refused" || list[0].Code != "blocked" {
		t.Fatalf("bob's transfers: %+v", list)
	}
	if left, _ := os.ReadDir(bobHome.Path(home.QuarantineDir)); len(left) != 0 {
		t.Fatalf("bob's quarantine has %d files", len(left))
	}
	if err := bob.Contacts().Remove(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendFile(ctx, "bob", path, nil); err != nil {
		t.Fatalf("after unblocking: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(bobHome.Path(home.ReceivedDir), "a.txt")); !strings.Contains(string(got), "hello bob") {
		t.Fatalf("bob has %q", got)
	}
}
