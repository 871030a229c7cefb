package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestAccounts is account control and check-ins on every backend: disabled
// accounts, revoked certificates and their list, sightings that expire.
func TestAccounts(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			b.require(t)
			testAccounts(t, b)
		})
	}
}

func testAccounts(t *testing.T, b backend) {
	ctx := context.Background()
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	fresh := func(t *testing.T, names ...string) Store {
		s := openStore(t, b.newDSN(t))
		for _, n := range names {
			if err := s.CreateUser(ctx, user(n)); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	addCert := func(t *testing.T, s Store, name string, issued, expires time.Time) Certificate {
		serial, err := s.NextSerial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c := Certificate{Serial: serial, Username: name, PeerKey: make([]byte, 32), Issued: issued, Expires: expires, Raw: []byte{byte(serial)}}
		if err := s.AddCertificate(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("CheckInsExpire", func(t *testing.T) {
		s := fresh(t, "ann")
		live := Sighting{Username: "ann", PeerID: "p1", Addrs: []string{"/ip4/127.0.0.1/tcp/1"}, Seen: at(0), Expires: at(10)}
		gone := Sighting{Username: "ann", PeerID: "p2", Addrs: []string{"/ip4/127.0.0.1/tcp/2"}, Seen: at(1), Expires: at(1)}
		for _, sg := range []Sighting{live, gone} {
			if err := s.Seen(ctx, sg); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			at   time.Time
			want []Sighting
		}{
			{at(1), []Sighting{gone, live}},
			{at(2), []Sighting{live}},
			{at(10), []Sighting{live}},
			{at(11), nil},
		}
		for _, tt := range tests {
			got, err := s.Sightings(ctx, "ann", tt.at, 10)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Sightings live at %v = %+v, %v; want %+v", tt.at, got, err, tt.want)
			}
			boot, err := s.BootstrapNodes(ctx, BootstrapQuery{Since: tt.at, PerUser: 5, PerSource: 5, Limit: 10})
			if err != nil || len(boot) != len(tt.want) {
				t.Errorf("BootstrapNodes live at %v = %d nodes, %v; want %d", tt.at, len(boot), err, len(tt.want))
			}
		}
		// A withdrawal is a newer check-in that expires at once.
		withdrawn := live
		withdrawn.Seen, withdrawn.Expires = at(2), at(2)
		if err := s.Seen(ctx, withdrawn); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Sightings(ctx, "ann", at(3), 10); got != nil {
			t.Errorf("after the withdrawal Sightings = %+v, want none", got)
		}
		// and a replay of the check-in before it is refused, not revived.
		if err := s.Seen(ctx, live); !errors.Is(err, ErrStale) {
			t.Errorf("a replayed check-in after the withdrawal = %v, want ErrStale", err)
		}
	})

	t.Run("DisabledAccount", func(t *testing.T) {
		s := fresh(t, "bea")
		if err := s.Seen(ctx, Sighting{Username: "bea", PeerID: "p1", Seen: now(), Expires: now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDisabled(ctx, "bea", true); err != nil {
			t.Fatal(err)
		}
		u, err := s.User(ctx, "bea")
		if err != nil || !u.Disabled {
			t.Fatalf("User after SetDisabled(true) = %+v, %v; want Disabled", u, err)
		}
		if got, _ := s.Sightings(ctx, "bea", now(), 10); got != nil {
			t.Errorf("a disabled account's sightings are still live: %+v", got)
		}
		err = s.Seen(ctx, Sighting{Username: "bea", PeerID: "p1", Seen: now().Add(time.Second), Expires: now().Add(time.Hour)})
		if !errors.Is(err, ErrDisabled) {
			t.Errorf("Seen for a disabled account = %v, want ErrDisabled", err)
		}
		if err := s.SetDisabled(ctx, "bea", false); err != nil {
			t.Fatal(err)
		}
		if u, _ := s.User(ctx, "bea"); u.Disabled {
			t.Error("SetDisabled(false) left the account disabled")
		}
		if err := s.Seen(ctx, Sighting{Username: "bea", PeerID: "p1", Seen: now().Add(2 * time.Second), Expires: now().Add(time.Hour)}); err != nil {
			t.Errorf("Seen after enabling again: %v", err)
		}
		for _, name := range []string{"nobody", "\xff"} {
			if err := s.SetDisabled(ctx, name, true); !errors.Is(err, ErrNotFound) {
				t.Errorf("SetDisabled(%q) = %v, want ErrNotFound", name, err)
			}
		}
	})

	t.Run("RevokeCertificates", func(t *testing.T) {
		s := fresh(t, "cal", "dee")
		old := addCert(t, s, "cal", at(-100), at(-50)) // expired: never listed
		c1 := addCert(t, s, "cal", at(0), at(100))
		c2 := addCert(t, s, "cal", at(1), at(50))
		other := addCert(t, s, "dee", at(0), at(100))
		if err := s.Seen(ctx, Sighting{Username: "cal", PeerID: "p1", Seen: at(1), Expires: at(100)}); err != nil {
			t.Fatal(err)
		}
		n, err := s.RevokeCertificates(ctx, "cal", at(2))
		if err != nil || n != 2 {
			t.Fatalf("RevokeCertificates = %d, %v; want 2", n, err)
		}
		if n, err := s.RevokeCertificates(ctx, "cal", at(3)); err != nil || n != 0 {
			t.Errorf("RevokeCertificates again = %d, %v; want 0 (nothing left to revoke)", n, err)
		}
		if got, _ := s.Certificates(ctx, "cal", at(3), 10); got != nil {
			t.Errorf("revoked certificates are still answered: %+v", got)
		}
		if got, _ := s.Certificates(ctx, "dee", at(3), 10); len(got) != 1 || got[0].Serial != other.Serial {
			t.Errorf("another user's certificates = %+v, want theirs untouched", got)
		}
		if got, _ := s.Sightings(ctx, "cal", at(3), 10); got != nil {
			t.Errorf("a revoked account's sightings are still live: %+v", got)
		}
		list, err := s.Revocations(ctx, at(3), 100)
		if err != nil {
			t.Fatal(err)
		}
		var serials []uint64
		for _, c := range list {
			serials = append(serials, c.Serial)
			if c.Username != "cal" || !c.Revoked.Equal(at(2)) {
				t.Errorf("revocation %+v, want cal's, revoked at %v", c, at(2))
			}
		}
		if want := []uint64{c1.Serial, c2.Serial}; !reflect.DeepEqual(serials, want) {
			t.Errorf("Revocations = serials %v, want %v (not %d, expired)", serials, want, old.Serial)
		}
		if list, _ := s.Revocations(ctx, at(60), 100); len(list) != 1 || list[0].Serial != c1.Serial {
			t.Errorf("Revocations after c2 expired = %+v, want only %d", list, c1.Serial)
		}
		one := addCert(t, s, "dee", at(0), at(100))
		if ok, err := s.RevokeCertificate(ctx, one.Serial, at(4)); !ok || err != nil {
			t.Errorf("RevokeCertificate(%d) = %v, %v; want revoked", one.Serial, ok, err)
		}
		if ok, err := s.RevokeCertificate(ctx, one.Serial, at(5)); ok || err != nil {
			t.Errorf("RevokeCertificate of a revoked one = %v, %v; want false", ok, err)
		}
		if ok, _ := s.RevokeCertificate(ctx, 1<<40, at(5)); ok {
			t.Error("RevokeCertificate of an unknown serial revoked something")
		}
		if got, _ := s.Certificates(ctx, "dee", at(5), 10); len(got) != 1 || got[0].Serial != other.Serial {
			t.Errorf("after revoking one of dee's two: %+v, want only %d", got, other.Serial)
		}
		if _, err := s.RevokeCertificates(ctx, "nobody", at(2)); !errors.Is(err, ErrNotFound) {
			t.Errorf("RevokeCertificates of an unknown user = %v, want ErrNotFound", err)
		}
	})
}

// TestMigrationEndsLoginSightings: a database of schema version 2 (the
// sightings logins recorded) opens with those sightings expired and every
// account enabled.
func TestMigrationEndsLoginSightings(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "directory.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sqliteMigrations[:2] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	stmts := []string{
		`PRAGMA user_version = 2`,
		fmt.Sprintf(`INSERT INTO users (name, display, password_hash, created) VALUES ('eve', 'eve', 'h', %d)`, t0.UnixMicro()),
		fmt.Sprintf(`INSERT INTO sightings (username, peer_id, addrs, super_node, seen) VALUES ('eve', 'p1', '[]', 0, %d)`, t0.UnixMicro()),
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s := openStore(t, "sqlite://"+path)
	if u, err := s.User(ctx, "eve"); err != nil || u.Disabled {
		t.Fatalf("User after migration = %+v, %v; want enabled", u, err)
	}
	if got, _ := s.Sightings(ctx, "eve", t0.Add(time.Microsecond), 10); got != nil {
		t.Errorf("a login's sighting is live after the migration: %+v", got)
	}
}
