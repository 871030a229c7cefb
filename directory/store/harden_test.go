package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/peercall/peercall/directory/lookalike"
	"github.com/peercall/peercall/internal/pgtest"
)

// TestHardening runs the checks of look-alike names, certified keys,
// verified super-nodes, bootstrap diversity and health on every backend.
func TestHardening(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			b.require(t)
			testHardening(t, b)
		})
	}
}

func testHardening(t *testing.T, b backend) {
	ctx := context.Background()
	fresh := func(t *testing.T) Store { return openStore(t, b.newDSN(t)) }

	t.Run("LookAlikeRefused", func(t *testing.T) {
		s := fresh(t)
		for _, n := range []string{"alice", "bob", "paypal", "\u00f8bama"} {
			if err := s.CreateUser(ctx, user(n)); err != nil {
				t.Fatalf("CreateUser(%q): %v", n, err)
			}
		}
		for _, n := range []string{"\u0251lice", "a1ice", "b\u043eb", "\u0440\u0430\u0443\u0440\u0430l", "paypa1", "o\u0338bama"} {
			if err := s.CreateUser(ctx, user(n)); !errors.Is(err, ErrNameTaken) {
				t.Errorf("CreateUser(%q) next to its look-alike = %v, want ErrNameTaken", n, err)
			}
		}
		owners, err := s.SkeletonOwners(ctx, []string{lookalike.Skeleton("a1ice"), lookalike.Skeleton("carol"), "bad\xff"})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{lookalike.Skeleton("alice"): "alice"}; !reflect.DeepEqual(owners, want) {
			t.Errorf("SkeletonOwners = %q, want %q", owners, want)
		}
	})

	t.Run("ConcurrentLookAlikesOneWinner", func(t *testing.T) {
		s := fresh(t)
		names := []string{"alice", "\u0251lice", "a1ice", "al\u0131ce"}
		const each = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []string
		start := make(chan struct{})
		for i := range len(names) * each {
			wg.Go(func() {
				<-start
				n := names[i%len(names)]
				err := s.CreateUser(ctx, User{Name: n, Display: n, PasswordHash: fmt.Sprint("hash", i), Created: t0})
				switch {
				case err == nil:
					mu.Lock()
					won = append(won, n)
					mu.Unlock()
				case !errors.Is(err, ErrNameTaken):
					t.Errorf("CreateUser(%q): %v, want nil or ErrNameTaken", n, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(won) != 1 {
			t.Fatalf("%d registrations of look-alike names won (%q), want exactly 1", len(won), won)
		}
	})

	t.Run("HasCertifiedKey", func(t *testing.T) {
		s := fresh(t)
		if err := s.CreateUser(ctx, user("quinn")); err != nil {
			t.Fatal(err)
		}
		own, other := []byte("own key, 32 bytes long, exactly!"), []byte("another key, 32 bytes long, too")
		c := Certificate{Serial: 1, Username: "quinn", PeerKey: own, Issued: t0, Expires: t0.Add(time.Minute), Raw: []byte{1}}
		if err := s.AddCertificate(ctx, c); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			user string
			key  []byte
			want bool
		}{{"quinn", own, true}, {"quinn", other, false}, {"nobody", own, false}, {"quinn", nil, false}, {"bad\xff", own, false}} {
			got, err := s.HasCertifiedKey(ctx, tc.user, tc.key)
			if err != nil || got != tc.want {
				t.Errorf("HasCertifiedKey(%q, %q) = %v, %v; want %v", tc.user, tc.key, got, err, tc.want)
			}
		}
	})

	t.Run("MarkSuperNodeAndBootstrapDiversity", func(t *testing.T) {
		s := fresh(t)
		for _, n := range []string{"ana", "ben", "cy"} {
			if err := s.CreateUser(ctx, user(n)); err != nil {
				t.Fatal(err)
			}
		}
		at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
		var all []Sighting
		// ana: five nodes from one address; ben: two from another; cy: one.
		for i := range 5 {
			all = append(all, Sighting{Username: "ana", PeerID: fmt.Sprint("a", i), Addrs: []string{"/ip4/192.0.2.1/tcp/1"}, Source: "192.0.2.1", Seen: at(10 + i)})
		}
		all = append(all,
			Sighting{Username: "ben", PeerID: "b0", Addrs: []string{"/ip4/198.51.100.2/tcp/1"}, Source: "198.51.100.2", Seen: at(1)},
			Sighting{Username: "ben", PeerID: "b1", Addrs: []string{"/ip4/198.51.100.2/tcp/2"}, Source: "198.51.100.2", Seen: at(2)},
			Sighting{Username: "cy", PeerID: "c0", Addrs: []string{"/ip4/203.0.113.3/tcp/1"}, Source: "203.0.113.3", Seen: at(3)},
		)
		for _, sg := range all {
			if err := s.Seen(ctx, sg); err != nil {
				t.Fatal(err)
			}
		}
		ids := func(sgs []Sighting) []string {
			var out []string
			for _, sg := range sgs {
				out = append(out, sg.PeerID)
			}
			return out
		}
		got, err := s.BootstrapNodes(ctx, BootstrapQuery{Since: at(0), PerUser: 2, PerSource: 2, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"a4", "a3", "c0", "b1", "b0"}; !reflect.DeepEqual(ids(got), want) {
			t.Errorf("BootstrapNodes (2 per user and source) = %v, want %v", ids(got), want)
		}
		if got, _ := s.BootstrapNodes(ctx, BootstrapQuery{Since: at(0), SuperOnly: true, PerUser: 2, PerSource: 2, Limit: 10}); got != nil {
			t.Errorf("BootstrapNodes(super only) before any verification = %v, want none", ids(got))
		}
		if err := s.MarkSuperNode(ctx, "cy", "c0", at(3), []string{"/ip4/203.0.113.3/tcp/1"}); err != nil {
			t.Fatalf("MarkSuperNode: %v", err)
		}
		if err := s.MarkSuperNode(ctx, "cy", "c0", at(2), nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("MarkSuperNode of an older sighting = %v, want ErrNotFound", err)
		}
		if err := s.MarkSuperNode(ctx, "cy", "nope", at(3), nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("MarkSuperNode of an unknown peer = %v, want ErrNotFound", err)
		}
		got, err = s.BootstrapNodes(ctx, BootstrapQuery{Since: at(0), SuperOnly: true, PerUser: 2, PerSource: 2, Limit: 10})
		want := all[7]
		want.SuperNode, want.VerifiedAddrs, want.Expires = true, []string{"/ip4/203.0.113.3/tcp/1"}, want.Seen
		if err != nil || !reflect.DeepEqual(got, []Sighting{want}) {
			t.Errorf("BootstrapNodes(super only) = %+v, %v; want %+v", got, err, want)
		}
		// A new login replaces the sighting: verified again or not at all.
		again := all[7]
		again.Seen = at(20)
		if err := s.Seen(ctx, again); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.BootstrapNodes(ctx, BootstrapQuery{Since: at(0), SuperOnly: true, PerUser: 2, PerSource: 2, Limit: 10}); got != nil {
			t.Errorf("after an unverified login BootstrapNodes(super only) = %v, want none", ids(got))
		}
	})

	t.Run("Health", func(t *testing.T) {
		s := fresh(t)
		h := s.(HealthChecker).Health(ctx)
		if h.Problem != "" || h.Backend != b.name {
			t.Fatalf("Health of a fresh store = %+v, want no problem", h)
		}
		if b.name == "sqlite" && h.FreeBytes <= 0 {
			t.Errorf("SQLite Health.FreeBytes = %d, want the free space", h.FreeBytes)
		}
		s.Close()
		if h := s.(HealthChecker).Health(ctx); h.Problem == "" {
			t.Errorf("Health of a closed store = %+v, want a problem", h)
		}
	})
}

// v1Users are the users of a database made by the first schema, with a
// look-alike pair registered before look-alikes were refused.
var v1Users = []User{
	{Name: "alice", Display: "alice", PasswordHash: fakeHash, Created: t0},
	{Name: "\u0430lice", Display: "\u0430lice", PasswordHash: fakeHash, Created: t0.Add(time.Hour)},
	{Name: "bob", Display: "Bob", PasswordHash: fakeHash, Created: t0.Add(2 * time.Hour)},
}

// checkMigratedFromV1 checks what the migration to schema 2 did to a v1
// database holding v1Users and one super-node sighting of bob's.
func checkMigratedFromV1(t *testing.T, s Store) {
	ctx := context.Background()
	for _, u := range v1Users {
		if got, err := s.User(ctx, u.Name); err != nil || got != u {
			t.Errorf("after migration User(%q) = %+v, %v; want %+v", u.Name, got, err, u)
		}
	}
	owners, err := s.SkeletonOwners(ctx, []string{lookalike.Skeleton("alice"), lookalike.Skeleton("bob")})
	if err != nil {
		t.Fatal(err)
	}
	// The older of the pair holds the skeleton.
	if want := map[string]string{lookalike.Skeleton("alice"): "alice", lookalike.Skeleton("bob"): "bob"}; !reflect.DeepEqual(owners, want) {
		t.Errorf("after migration SkeletonOwners = %q, want %q", owners, want)
	}
	for _, n := range []string{"al\u0456ce", "b\u043eb"} {
		if err := s.CreateUser(ctx, user(n)); !errors.Is(err, ErrNameTaken) {
			t.Errorf("after migration CreateUser(%q) = %v, want ErrNameTaken", n, err)
		}
	}
	sg, err := s.Sightings(ctx, "bob", t0, 10)
	if err != nil || len(sg) != 1 || sg[0].SuperNode || sg[0].Source != "" || sg[0].VerifiedAddrs != nil {
		t.Errorf("after migration bob's sightings = %+v, %v; want one, no longer a super-node", sg, err)
	}
}

func TestSQLiteMigratesFromV1(t *testing.T) {
	dsn := sqliteDSN(t)
	path := dsn[len("sqlite://"):]
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(sqliteMigrations[0] + `PRAGMA user_version = 1;`); err != nil {
		t.Fatal(err)
	}
	for _, u := range v1Users {
		if _, err := db.Exec(`INSERT INTO users (name, display, password_hash, created) VALUES (?, ?, ?, ?)`, u.Name, u.Display, u.PasswordHash, u.Created.UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO sightings (username, peer_id, addrs, super_node, seen) VALUES ('bob', 'p', '[]', 1, ?)`, t0.Add(time.Hour).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	checkMigratedFromV1(t, openStore(t, dsn))
}

func TestPostgresMigratesFromV1(t *testing.T) {
	dsn := pgtest.SchemaDSN(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, postgresMigrations[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_version (version integer NOT NULL); INSERT INTO schema_version VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	for _, u := range v1Users {
		if _, err := conn.Exec(ctx, `INSERT INTO users (name, display, password_hash, created) VALUES ($1, $2, $3, $4)`, u.Name, u.Display, u.PasswordHash, u.Created); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO sightings (username, peer_id, addrs, super_node, seen) VALUES ('bob', 'p', '{}', true, $1)`, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	checkMigratedFromV1(t, openStore(t, dsn))
}

// TestSkeletonsRecomputedForNewData: skeletons made with other confusables
// data are recomputed at open.
func TestSkeletonsRecomputedForNewData(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			b.require(t)
			ctx := context.Background()
			dsn := b.newDSN(t)
			s, err := Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CreateUser(ctx, user("carol")); err != nil {
				t.Fatal(err)
			}
			// As if an older release had stored another skeleton.
			stale := []string{`UPDATE users SET skeleton = 'stale'`, `UPDATE meta SET value = '0.0.0'`}
			for _, q := range stale {
				var err error
				switch st := s.(type) {
				case *sqliteStore:
					_, err = st.writer.Exec(q)
				case *postgresStore:
					_, err = st.pool.Exec(ctx, q)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			s = openStore(t, dsn)
			owners, err := s.SkeletonOwners(ctx, []string{lookalike.Skeleton("carol"), "stale"})
			if err != nil || !reflect.DeepEqual(owners, map[string]string{lookalike.Skeleton("carol"): "carol"}) {
				t.Errorf("after reopening with new data SkeletonOwners = %q, %v; want carol's skeleton recomputed", owners, err)
			}
		})
	}
}
