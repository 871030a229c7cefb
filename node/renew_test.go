package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/directory/server"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/node"
)

// waitStatus polls n's status (at most limit) until ok holds.
func waitStatus(t *testing.T, n *node.Node, limit time.Duration, what string, ok func(st control.Identity) bool) control.Identity {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		st := n.Status()
		if st.Identity != nil && ok(*st.Identity) {
			return *st.Identity
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v; status identity %+v", what, limit, st.Identity)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRenewalKeepsCallable: with certificates of 10 s, bob's node renews
// its own without a password and stays callable over more than three
// lifetimes; once his account is disabled, his next renewal fails, status
// says why, and after his certificate expired alice's call is refused.
func TestRenewalKeepsCallable(t *testing.T) {
	const validity = 10 * time.Second
	nw := callharness.NewNetworkWith(t, func(c *server.Config) { c.CertValidity = validity })
	aliceU, bobU := nw.User("alice"), nw.User("bob")
	bo := callharness.NodeOptions()
	bo.AutoAnswer = true
	bo.Audio = (&callharness.Audio{Send: callharness.Speech("bob", 1)}).Opener()
	bob := nw.StartWith(bobU, bo, nil)
	o := callharness.NodeOptions()
	o.Audio = (&callharness.Audio{Send: callharness.Speech("alice", 1)}).Opener()
	alice := nw.StartWith(aliceU, o, nil)
	first := bob.Status().Identity
	if first == nil || first.NextRenewal.IsZero() {
		t.Fatalf("bob's status shows no certificate or next renewal: %+v", first)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serial := first.CertificateSerial
	start := time.Now()
	for lifetime := 1; time.Since(start) < 3*validity+validity/5; lifetime++ {
		// Each two thirds of a lifetime bring a renewal; the call goes
		// through with the renewed certificates of both.
		id := waitStatus(t, bob, 2*validity, "bob's renewal", func(id control.Identity) bool {
			return id.CertificateSerial != serial && !id.LastRenewal.IsZero() && id.RenewalError == ""
		})
		serial = id.CertificateSerial
		time.Sleep(validity / 4)
		res, err := alice.Call(ctx, "bob", call.Options{Duration: 200 * time.Millisecond})
		if err != nil || !res.Connected {
			t.Fatalf("call %v after bob's first certificate (lifetime %d, serial %d): %+v, %v", time.Since(start).Round(time.Second), lifetime, serial, res, err)
		}
	}
	t.Logf("bob callable over %v (%d certificate lifetimes of %v)", time.Since(start).Round(time.Second), int(time.Since(start)/validity), validity)

	nw.Dir.SetDisabled(t, "bob", true)
	id := waitStatus(t, bob, 2*validity, "bob's failed renewal", func(id control.Identity) bool {
		return strings.Contains(id.RenewalError, "disabled")
	})
	t.Logf("bob's status after his account was disabled: renewal error %q", id.RenewalError)
	if wait := time.Until(id.CertificateExpires); wait > 0 {
		time.Sleep(wait + time.Second)
	}
	if res, err := alice.Call(ctx, "bob", call.Options{Duration: 200 * time.Millisecond}); err == nil && res.Connected {
		t.Fatalf("a call to bob after his certificate expired (account disabled) connected: %+v", res)
	}
}
