package node_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/node"
	"github.com/peercall/peercall/transfer"
)

// fileNodes starts alice and bob; bob's [transfer] and policy.toml are
// given (policy "" is none).
func fileNodes(t *testing.T, bobTransfer *home.TransferConfig, policy string) (alice, bob *node.Node, bobHome *home.Home) {
	t.Helper()
	nw := callharness.NewNetwork(t)
	au, bu := nw.User("alice"), nw.User("bob")
	cfg, err := bu.Home.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Transfer = bobTransfer
	if err := bu.Home.SaveConfig(cfg); err != nil {
		t.Fatal(err)
	}
	noPolicy := filepath.Join(t.TempDir(), "none.toml")
	ao := callharness.NodeOptions()
	ao.Relay.PolicyPath = noPolicy
	bo := callharness.NodeOptions()
	bo.Relay.PolicyPath = noPolicy
	if policy != "" {
		bo.Relay.PolicyPath = filepath.Join(t.TempDir(), "policy.toml")
		if err := os.WriteFile(bo.Relay.PolicyPath, []byte(policy), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	alice = nw.Start(au, ao)
	bob = nw.Start(bu, bo)
	callharness.WaitPresence(t, alice, bob)
	return alice, bob, bu.Home
}

func fileCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestSendFile: alice sends bob a file by name over the nodes' libp2p
// connection; bob's node checks her certificate, takes it (auto-accept)
// and releases it into received/. On loopback that connection is TCP with
// TLS 1.3 (p2phost.Options: TCP first to a LAN peer, TLS before Noise),
// the fastest of a node's paths (BenchmarkLoopback).
func TestSendFile(t *testing.T) {
	alice, bob, bobHome := fileNodes(t, &home.TransferConfig{AutoAcceptFrom: []string{"alice"}}, "")
	data := bytes.Repeat([]byte("peercall file transfer\n"), 100_000) // 2.3 MB
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var events []string
	rep, err := alice.SendFile(fileCtx(t), "bob", path, func(ev transfer.Event) { events = append(events, ev.State) })
	if err != nil {
		t.Fatalf("send: %v (events %v)", err, events)
	}
	if rep.Result.Status != transfer.StatusReleased || rep.Sent != int64(len(data)) {
		t.Fatalf("report %+v", rep)
	}
	got, err := os.ReadFile(filepath.Join(bobHome.Path(home.ReceivedDir), "notes.txt"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("bob has %d bytes (%v)", len(got), err)
	}
	list := bob.Transfers()
	if len(list) != 1 || list[0].Peer != "alice" || list[0].State != "released" {
		t.Fatalf("bob's transfers: %+v", list)
	}
	if st := bob.Status(); len(st.TransferRules) == 0 || !strings.Contains(st.TransferRules[0], "enabled: true") {
		t.Fatalf("status rules %q", st.TransferRules)
	}
	conns := alice.Host().Network().ConnsToPeer(bob.PeerID())
	for _, c := range conns {
		if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_TCP); err != nil || c.ConnState().Security != "/tls/1.0.0" {
			t.Errorf("alice's connection to bob: %s, security %q; want TCP with /tls/1.0.0", c.RemoteMultiaddr(), c.ConnState().Security)
		}
	}
	if len(conns) == 0 {
		t.Error("alice has no connection to bob after the send")
	}
}

// TestSendFileAccept: an offer from someone not auto-accepted waits for
// bob's decision: refused, the sender is told; accepted, it arrives.
func TestSendFileAccept(t *testing.T) {
	alice, bob, bobHome := fileNodes(t, nil, "")
	path := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(path, []byte("hello bob"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, accept := range []bool{false, true} {
		done := make(chan error, 1)
		go func() { _, err := alice.SendFile(fileCtx(t), "bob", path, nil); done <- err }()
		id := ""
		for deadline := time.Now().Add(20 * time.Second); id == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			for _, ev := range bob.Transfers() {
				if ev.State == "offered" && ev.Peer == "alice" {
					id = ev.ID
				}
			}
		}
		if id == "" {
			t.Fatal("bob never saw the offer")
		}
		if err := bob.DecideTransfer("nonsense", true); err == nil {
			t.Fatal("deciding on no offer worked")
		}
		for bob.DecideTransfer(id, accept) != nil {
			time.Sleep(10 * time.Millisecond) // the offer is listed a moment before it waits
		}
		err := <-done
		if !accept {
			var refused *transfer.RefusedError
			if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "bob declined") {
				t.Fatalf("refused: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("accepted: %v", err)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(bobHome.Path(home.ReceivedDir), "a.txt")); string(got) != "hello bob" {
		t.Fatalf("bob has %q", got)
	}
}

// TestSendFilePolicyDisabled: bob's policy.toml disables file transfer
// though his config.toml enables it: alice's offer is refused with the
// rule and the file before any byte moves.
func TestSendFilePolicyDisabled(t *testing.T) {
	on := true
	alice, bob, bobHome := fileNodes(t, &home.TransferConfig{Settings: transfer.Settings{Enabled: &on}, AutoAcceptFrom: []string{"alice"}},
		"[transfer]\nenabled = false\n")
	path := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(path, []byte("hello bob"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := alice.SendFile(fileCtx(t), "bob", path, nil)
	var refused *transfer.RefusedError
	if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "transfer.enabled = false in admin policy") {
		t.Fatalf("got %v", err)
	}
	if left, _ := os.ReadDir(bobHome.Path(home.QuarantineDir)); len(left) != 0 {
		t.Fatalf("bob's quarantine has %d files", len(left))
	}
	if n := refusals(t, bob); n != 1 {
		t.Fatalf("peercall_node_file_refusals_total{reason=\"transfer.enabled\"} = %v, want 1", n)
	}
}

func refusals(t *testing.T, n *node.Node) float64 {
	t.Helper()
	mfs, err := n.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "peercall_node_file_refusals_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == "transfer.enabled" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
