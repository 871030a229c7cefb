package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
)

// TestUserCommands: beside a running directory, `user disable` refuses the
// account's logins and renewals (403 account_disabled), `user enable`
// lets them in again, and `user revoke` puts every certificate of the
// account on the signed revocation list within revocation_refresh.
func TestUserCommands(t *testing.T) {
	data := t.TempDir()
	p := start(t, "--insecure-http", "--listen", "127.0.0.1:0", "--data", data, "--revocation-refresh", "1s")
	pub, err := crypto.ParsePublicKey(p.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := directory.NewClient(p.url, directory.ClientOptions{DirectoryKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const pw = "a long password"
	if _, err := c.Register(ctx, "Nora", pw); err != nil {
		t.Fatal(err)
	}
	key, _ := crypto.GenerateKey()
	cert, _, err := c.Login(ctx, directory.LoginParams{Username: "nora", Password: pw, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	user := func(args ...string) (int, string) {
		cmd := exec.Command(binary, append(append([]string{"user"}, args...), "--data", data)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), out.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, out.String()
	}
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"disable", "NORA"}, 0, "nora: disabled"},
		{[]string{"disable", "nobody-here"}, exitFailure, "not found"},
		{[]string{"frobnicate", "nora"}, exitUsage, "usage"},
		{[]string{"disable"}, exitUsage, "usage"},
	} {
		if code, out := user(tc.args...); code != tc.code || !strings.Contains(out, tc.out) {
			t.Errorf("user %v: exit %d %q, want %d and %q", tc.args, code, out, tc.code, tc.out)
		}
	}
	if _, _, err := c.Login(ctx, directory.LoginParams{Username: "nora", Password: pw, Key: key}); !errors.Is(err, directory.ErrDisabled) {
		t.Errorf("login of a disabled account: %v, want ErrDisabled", err)
	}
	if _, _, err := c.Renew(ctx, key, cert); !errors.Is(err, directory.ErrDisabled) {
		t.Errorf("renewal of a disabled account: %v, want ErrDisabled", err)
	}
	if code, out := user("enable", "nora"); code != 0 {
		t.Fatalf("user enable: %d %s", code, out)
	}
	renewed, _, err := c.Renew(ctx, key, cert)
	if err != nil {
		t.Fatalf("renewal after enable: %v", err)
	}
	if code, out := user("revoke", "nora"); code != 0 || !strings.Contains(out, "2 certificates revoked") {
		t.Fatalf("user revoke: %d %s", code, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := c.Revocations(ctx)
		if err == nil && l.Revokes(cert.Serial) && l.Revokes(renewed.Serial) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after `user revoke` the revocation list is %+v, %v; want both serials", l, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, _, err := c.Renew(ctx, key, renewed); !errors.Is(err, directory.ErrRevoked) {
		t.Errorf("renewal of a revoked certificate: %v, want ErrRevoked", err)
	}
}
