package main

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/internal/callharness"
)

// runStdin runs peercall in-process on home with stdin.
func runStdin(t *testing.T, stdin string, hmDir string, args ...string) result {
	t.Helper()
	var out, errb strings.Builder
	e := newEnv(strings.NewReader(stdin), &out, &errb)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	code := run(ctx, e, append([]string{"--home", hmDir}, args...))
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// TestLogoutEverywhereRefusedByRunningNodes: bob's node calls alice's;
// after `peercall logout --everywhere` on bob's machine, alice's running
// node refuses his old certificate within her revocation refresh (1 s
// here): his INVITE does not ring, and his presence is not an answer.
// `peercall passwd` then changes his password.
func TestLogoutEverywhereRefusedByRunningNodes(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU := nw.User("alice"), nw.User("bob")
	var rang atomic.Int32
	ao := callharness.NodeOptions()
	ao.AutoAnswer = true
	ao.RevocationRefresh = time.Second
	ao.Audio = (&callharness.Audio{Send: callharness.Speech("alice", 1)}).Opener()
	ao.OnCall = func(ev call.Event) {
		if ev.Kind == call.EventIncoming {
			rang.Add(1)
		}
	}
	alice := nw.StartWith(aliceU, ao, nil)
	bo := callharness.NodeOptions()
	bo.Audio = (&callharness.Audio{Send: callharness.Speech("bob", 1)}).Opener()
	bob := nw.Start(bobU, bo)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if res, err := bob.Call(ctx, "alice", call.Options{Duration: 200 * time.Millisecond}); err != nil || !res.Connected {
		t.Fatalf("bob's call before logout: %+v, %v", res, err)
	}
	if rang.Load() != 1 {
		t.Fatalf("alice rang %d times for bob's call, want 1", rang.Load())
	}
	if r := runStdin(t, "wrong password!\n", bobU.Home.Dir(), "logout", "--everywhere", "--password-stdin"); r.code == exitOK {
		t.Fatalf("logout --everywhere with a wrong password succeeded: %s", r.stdout)
	}
	r := runStdin(t, callharness.Password+"\n", bobU.Home.Dir(), "logout", "--everywhere", "--password-stdin")
	if r.code != exitOK || !strings.Contains(r.stdout, "revoked") {
		t.Fatalf("logout --everywhere: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	start := time.Now()
	cert, err := bobU.Home.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if st := alice.Status().Identity; st != nil && st.Revocations > 0 {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("alice's node has not fetched the revocation of bob's certificate %d after 30 s: %+v", cert.Serial, alice.Status().Identity)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("alice's node lists bob's revoked certificate %v after logout --everywhere", time.Since(start).Round(10*time.Millisecond))
	before := rang.Load()
	res, err := bob.Call(ctx, "alice", call.Options{Duration: 200 * time.Millisecond})
	if err == nil && res.Connected {
		t.Fatalf("bob's call with a revoked certificate connected: %+v", res)
	}
	if n := rang.Load(); n != before {
		t.Errorf("bob's INVITE with a revoked certificate rang alice (%d rings)", n-before)
	}
	if _, err := alice.Lookup(ctx, "bob"); err == nil {
		t.Errorf("alice's lookup of bob (every certificate revoked) found him")
	}
	// passwd: the current password, then the new one.
	if r := runStdin(t, callharness.Password+"\n"+"a brand new password\n", bobU.Home.Dir(), "passwd", "--password-stdin"); r.code != exitOK {
		t.Fatalf("passwd: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	c := nw.Dir.Client(t)
	defer c.Close()
	key, _, _ := bobU.Home.IdentityKey()
	if _, _, err := c.Login(ctx, directory.LoginParams{Username: "bob", Password: callharness.Password, Key: key}); !errors.Is(err, directory.ErrAuthFailed) {
		t.Errorf("login with the old password after passwd: %v, want ErrAuthFailed", err)
	}
	if _, _, err := c.Login(ctx, directory.LoginParams{Username: "bob", Password: "a brand new password", Key: key}); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
}
