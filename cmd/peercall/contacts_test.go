package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/autostart"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/internal/callharness"
)

// TestCLIContacts: contacts and presence through the running nodes'
// control sockets: add with a message, the request seen with --json,
// accept, the other's status, dnd with a mood; a stranger's call to a user
// who takes calls from contacts only ends with exit 5 and the reason;
// usage and unknown users have their exit codes.
func TestCLIContacts(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU, carolU := nw.User("alice"), nw.User("bob"), nw.User("carol")
	cfg, err := bobU.Home.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Contacts = &home.ContactsConfig{CallsFrom: "contacts"}
	if err := bobU.Home.SaveConfig(cfg); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*callharness.User{aliceU, bobU, carolU} {
		o := callharness.NodeOptions()
		o.Audio = (&callharness.Audio{Send: callharness.Speech("bob", 1)}).Opener()
		o.AutoAnswer = true
		nw.Start(u, o)
	}

	list := func(hm *home.Home) map[string]map[string]any {
		t.Helper()
		r := runHome(t, hm, "contacts", "--json")
		if r.code != exitOK {
			t.Fatalf("contacts --json: exit %d, %s", r.code, r.stderr)
		}
		var v struct {
			Contacts []map[string]any `json:"contacts"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatalf("contacts --json printed %q: %v", r.stdout, err)
		}
		out := map[string]map[string]any{}
		for _, c := range v.Contacts {
			out[c["username"].(string)] = c
		}
		return out
	}
	waitFor := func(hm *home.Home, name, key, want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if c := list(hm)[name]; c != nil && c[key] == want {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s's %s never became %q: %v", name, key, want, list(hm)[name])
	}

	if r := runHome(t, aliceU.Home, "contacts", "add", "bob", "--message", "hi bob"); r.code != exitOK || !strings.Contains(r.stdout, "delivered") {
		t.Fatalf("contacts add bob: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	waitFor(bobU.Home, "alice", "state", "incoming")
	if c := list(bobU.Home)["alice"]; c["note"] != "hi bob" {
		t.Errorf("bob sees alice's request as %v", c)
	}
	if r := runHome(t, bobU.Home, "contacts", "accept", "alice"); r.code != exitOK {
		t.Fatalf("contacts accept: exit %d, %s", r.code, r.stderr)
	}
	waitFor(aliceU.Home, "bob", "status", "online")
	if r := runHome(t, bobU.Home, "presence", "dnd", "--mood", "in a meeting"); r.code != exitOK || !strings.Contains(r.stdout, "dnd") {
		t.Fatalf("presence dnd: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	waitFor(aliceU.Home, "bob", "status", "dnd")
	waitFor(aliceU.Home, "bob", "mood", "in a meeting")
	if r := runHome(t, bobU.Home, "status"); !strings.Contains(r.stdout, "status:       dnd") {
		t.Errorf("status does not show dnd: %s", r.stdout)
	}
	if r := runHome(t, bobU.Home, "presence", "online"); r.code != exitOK {
		t.Fatalf("presence online: exit %d", r.code)
	}

	r := runHome(t, carolU.Home, "call", "bob", "--duration", "1s", "--audio-in", "silence", "--audio-out", "null")
	if r.code != exitRejected || !strings.Contains(r.stderr, "contacts only") {
		t.Errorf("a stranger's call: exit %d, stderr %q; want 5 saying bob takes calls from contacts only", r.code, r.stderr)
	}
	if r := runHome(t, bobU.Home, "history", "--json"); r.code != exitOK || !strings.Contains(r.stdout, `"peer": "carol"`) {
		t.Errorf("bob's history --json: exit %d, %s; want carol's refused call", r.code, r.stdout)
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"contacts", "add", "nobody"}, exitUnknownUser},
		{[]string{"contacts", "frobnicate", "bob"}, exitUsage},
		{[]string{"contacts", "accept", "carol"}, exitFailure},
		{[]string{"presence", "sleeping"}, exitUsage},
		{[]string{"contacts", "remove", "bob", "--message", "x"}, exitUsage},
		{[]string{"ui"}, exitFailure}, // these nodes serve no interface
	} {
		if r := runHome(t, aliceU.Home, tc.args...); r.code != tc.want {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, r.code, tc.want, r.stderr)
		}
	}
}

// TestAutostart: off by default; on links the installed user unit into
// default.target.wants, off removes the link; on without an installed unit
// says how to install it.
func TestAutostart(t *testing.T) {
	cfg, data := t.TempDir(), t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("XDG_DATA_HOME", data)
	hm, err := home.OpenHome(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if autostart.On() {
		t.Fatal("autostart on before anything was done")
	}
	if r := runHome(t, hm, "autostart", "on"); r.code != exitFailure || !strings.Contains(r.stderr, "make install") {
		if !unitInstalledSystemWide() {
			t.Errorf("autostart on without the unit: exit %d, %q", r.code, r.stderr)
		}
	}
	unit := filepath.Join(data, "systemd/user", autostart.UnitName)
	if err := os.MkdirAll(filepath.Dir(unit), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unit, []byte("[Service]\nExecStart=/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runHome(t, hm, "autostart", "on"); r.code != exitOK {
		t.Fatalf("autostart on: exit %d, %s", r.code, r.stderr)
	}
	link := filepath.Join(cfg, "systemd/user/default.target.wants", autostart.UnitName)
	if target, err := os.Readlink(link); err != nil || target != unit {
		t.Errorf("link %s -> %q, %v; want %s", link, target, err, unit)
	}
	if r := runHome(t, hm, "autostart"); !strings.Contains(r.stdout, "autostart on") {
		t.Errorf("autostart: %q", r.stdout)
	}
	if r := runHome(t, hm, "autostart", "off"); r.code != exitOK || autostart.On() {
		t.Errorf("autostart off: exit %d, still on %v", r.code, autostart.On())
	}
	if r := runHome(t, hm, "autostart", "maybe"); r.code != exitUsage {
		t.Errorf("autostart maybe: exit %d", r.code)
	}
}

func unitInstalledSystemWide() bool {
	for _, d := range autostart.UnitDirs()[1:] {
		if _, err := os.Stat(filepath.Join(d, autostart.UnitName)); err == nil {
			return true
		}
	}
	return false
}
