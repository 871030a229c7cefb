package node_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/node"
)

// TestNodeNeedsCertificate: a node does not start without a usable
// certificate, and says to run `peercall login`.
func TestNodeNeedsCertificate(t *testing.T) {
	d := callharness.StartDirectory(t)
	tests := []struct {
		name  string
		setup func(u *callharness.User) node.Options
	}{
		{"expired", func(*callharness.User) node.Options {
			o := callharness.NodeOptions()
			o.Now = func() time.Time { return time.Now().Add(30 * 24 * time.Hour) }
			return o
		}},
		{"never logged in", func(u *callharness.User) node.Options {
			if err := os.Remove(u.Home.Path(home.CertificateFile)); err != nil {
				t.Fatal(err)
			}
			return callharness.NodeOptions()
		}},
		{"issued for another key", func(u *callharness.User) node.Options {
			if err := os.Remove(u.Home.Path(home.IdentityKeyFile)); err != nil {
				t.Fatal(err)
			}
			return callharness.NodeOptions()
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := d.NewUser(t, []string{"erin", "frank", "grace"}[i])
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			n, err := node.New(ctx, u.Home, tc.setup(u))
			if err == nil {
				n.Close()
				t.Fatal("the node started")
			}
			if !errors.Is(err, home.ErrCertificate) || !strings.Contains(err.Error(), "peercall login") {
				t.Fatalf("error %v, want ErrCertificate telling to run `peercall login`", err)
			}
			// The failed start left the home unlocked and without a socket.
			if _, err := os.Stat(u.Home.Path(home.ControlSocket)); !os.IsNotExist(err) {
				t.Errorf("control socket left behind: %v", err)
			}
		})
	}
}
