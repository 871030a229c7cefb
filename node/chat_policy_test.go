package node_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/chat"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/node"
)

// TestChatPolicy: bob's policy.toml turns chat off though his config.toml
// turns it on: alice's message is refused with the rule and the file,
// bob cannot send, and status names the rule; a policy with an unknown
// [chat] key stops the node, naming the file and the key.
func TestChatPolicy(t *testing.T) {
	nw := callharness.NewNetwork(t)
	au, bu := nw.User("alice"), nw.User("bob")
	cfg, err := bu.Home.Config()
	if err != nil {
		t.Fatal(err)
	}
	on := true
	cfg.Chat = &home.ChatConfig{Enabled: &on}
	if err := bu.Home.SaveConfig(cfg); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(policy, []byte("[chat]\nenabled = false\n[transfer]\nenabled = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ao, bo := callharness.NodeOptions(), callharness.NodeOptions()
	ao.Relay.PolicyPath = filepath.Join(t.TempDir(), "none.toml")
	bo.Relay.PolicyPath = policy
	alice := nw.Start(au, ao)
	bob := nw.Start(bu, bo)
	callharness.WaitPresence(t, alice, bob)
	ctx := chatCtx(t)
	rule := "chat.enabled = false in the admin policy " + policy
	m, ok, err := alice.Chat().Send(ctx, "bob", "hello")
	if err != nil || ok || m.State != chat.StateRefused || !strings.Contains(m.Reason, rule) {
		t.Fatalf("to bob: delivered %v, %+v, %v; want refused naming %q", ok, m, err, rule)
	}
	if _, _, err := bob.Chat().Send(ctx, "alice", "hello"); !errors.Is(err, chat.ErrDisabled) || !strings.Contains(err.Error(), rule) {
		t.Fatalf("bob's send: %v", err)
	}
	if st := bob.Status(); st.ChatRule != "disabled by "+rule {
		t.Fatalf("status chat rule %q", st.ChatRule)
	}
	if st := alice.Status(); st.ChatRule != "enabled" {
		t.Fatalf("alice's status chat rule %q", st.ChatRule)
	}
	nw.Stop(bob)

	if err := os.WriteFile(policy, []byte("[chat]\nenabld = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.New(sctx, bu.Home, bo)
	if err == nil {
		n.Close()
		t.Fatal("bob's node started with an unknown policy key")
	}
	if !strings.Contains(err.Error(), policy) || !strings.Contains(err.Error(), "chat.enabld") {
		t.Fatalf("start with a bad policy: %v, want the file and the key named", err)
	}
}
