package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/internal/callharness"
)

// TestCLISend: `send` through alice's running node to bob's (who
// auto-accepts her), with a progress bar; `transfers`, `status` and
// `accept` on bob's side.
func TestCLISend(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU := nw.User("alice"), nw.User("bob")
	cfg, err := bobU.Home.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Transfer = &home.TransferConfig{AutoAcceptFrom: []string{"alice"}}
	if err := bobU.Home.SaveConfig(cfg); err != nil {
		t.Fatal(err)
	}
	none := filepath.Join(t.TempDir(), "no-policy.toml")
	o := callharness.NodeOptions()
	o.Relay.PolicyPath = none
	bob := nw.Start(bobU, o)
	o = callharness.NodeOptions()
	o.Relay.PolicyPath = none
	alice := nw.Start(aliceU, o)
	callharness.WaitPresence(t, alice, bob)

	data := bytes.Repeat([]byte("0123456789abcdef"), 200_000) // 3.2 MB
	path := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runHome(t, aliceU.Home, "send", "bob", path)
	if r.code != exitOK || !strings.Contains(r.stdout, `sent report.pdf to bob: 3200000 bytes, released as "report.pdf"`) || !strings.Contains(r.stderr, "100%") {
		t.Fatalf("send: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	got, _ := os.ReadFile(filepath.Join(bobU.Home.Path(home.ReceivedDir), "report.pdf"))
	if !bytes.Equal(got, data) {
		t.Fatalf("bob received %d bytes", len(got))
	}
	r = runHome(t, bobU.Home, "transfers", "--json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 || list[0]["state"] != "released" || list[0]["peer"] != "alice" {
		t.Fatalf("transfers: exit %d, %q, %v", r.code, r.stdout, err)
	}
	if r = runHome(t, bobU.Home, "status"); !strings.Contains(r.stdout, "files:        enabled: true") {
		t.Fatalf("status: %q", r.stdout)
	}
	if r = runHome(t, bobU.Home, "accept", "0123"); r.code != exitFailure || !strings.Contains(r.stderr, "no such file offer") {
		t.Fatalf("accept of nothing: exit %d, %q", r.code, r.stderr)
	}
	if r = runHome(t, aliceU.Home, "send", "bob"); r.code != exitUsage {
		t.Fatalf("send without a file: exit %d", r.code)
	}
}
