package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestStore runs the shared suite against every backend.
func TestStore(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			b.require(t)
			testStore(t, b)
		})
	}
}

// t0 is a time with microsecond precision, the precision both stores keep.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 890123000, time.UTC)

const fakeHash = "$argon2id$v=19$m=65536,t=3,p=2$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"

func user(name string) User {
	return User{Name: name, Display: "Display " + name, PasswordHash: fakeHash + name, Created: t0}
}

// testStore is the behaviour every Store must have.
func testStore(t *testing.T, b backend) {
	ctx := context.Background()
	fresh := func(t *testing.T) Store { return openStore(t, b.newDSN(t)) }

	t.Run("CreateThenGet", func(t *testing.T) {
		s := fresh(t)
		want := User{Name: "alice", Display: "Alice", PasswordHash: fakeHash, Created: t0}
		if err := s.CreateUser(ctx, want); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		got, err := s.User(ctx, "alice")
		if err != nil {
			t.Fatalf("User: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("User = %+v, want %+v", got, want)
		}
	})

	t.Run("CreateWithoutTimeStampsNow", func(t *testing.T) {
		s := fresh(t)
		before := time.Now().Add(-time.Second)
		if err := s.CreateUser(ctx, User{Name: "bob", Display: "Bob", PasswordHash: fakeHash}); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		got, err := s.User(ctx, "bob")
		if err != nil {
			t.Fatalf("User: %v", err)
		}
		if got.Created.Before(before) || got.Created.After(time.Now().Add(time.Second)) {
			t.Errorf("Created = %v, want about now", got.Created)
		}
	})

	t.Run("InvalidUserRejected", func(t *testing.T) {
		s := fresh(t)
		for _, u := range []User{
			{Name: "", Display: "x", PasswordHash: fakeHash},
			{Name: "nohash", Display: "x"},
			{Name: "bad\xff", Display: "x", PasswordHash: fakeHash},
		} {
			if err := s.CreateUser(ctx, u); err == nil {
				t.Errorf("CreateUser(%+v) succeeded, want an error", u)
			}
		}
	})

	t.Run("NameTaken", func(t *testing.T) {
		s := fresh(t)
		if err := s.CreateUser(ctx, user("carol")); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		again := User{Name: "carol", Display: "CAROL", PasswordHash: "other", Created: t0}
		err := s.CreateUser(ctx, again)
		if !errors.Is(err, ErrNameTaken) {
			t.Fatalf("second CreateUser = %v, want ErrNameTaken", err)
		}
		got, err := s.User(ctx, "carol")
		if err != nil || got != user("carol") {
			t.Errorf("after refused registration User = %+v, %v; want the first registration unchanged", got, err)
		}
	})

	t.Run("ConcurrentRegistrationsOneWinner", func(t *testing.T) {
		s := fresh(t)
		const n = 50
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = s.CreateUser(ctx, User{Name: "dave", Display: "dave", PasswordHash: fmt.Sprint("hash", i), Created: t0})
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("registrations %d and %d both succeeded", winner, i)
				}
				winner = i
			case !errors.Is(err, ErrNameTaken):
				t.Errorf("registration %d: %v, want nil or ErrNameTaken", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no registration succeeded")
		}
		got, err := s.User(ctx, "dave")
		if err != nil || got.PasswordHash != fmt.Sprint("hash", winner) {
			t.Errorf("User = %+v, %v; want the winner's hash %q", got, err, fmt.Sprint("hash", winner))
		}
	})

	t.Run("Taken", func(t *testing.T) {
		s := fresh(t)
		for _, n := range []string{"erin", "erin1", "frank"} {
			if err := s.CreateUser(ctx, user(n)); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			names []string
			want  map[string]bool
		}{
			{nil, map[string]bool{}},
			{[]string{"erin"}, map[string]bool{"erin": true}},
			{[]string{"erin", "erin2", "frank", "nobody"}, map[string]bool{"erin": true, "erin2": false, "frank": true, "nobody": false}},
			{[]string{"erin1", "erin1"}, map[string]bool{"erin1": true}},
		}
		for _, tt := range tests {
			got, err := s.Taken(ctx, tt.names)
			if err != nil {
				t.Fatalf("Taken(%q): %v", tt.names, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Taken(%q) = %v, want %v", tt.names, got, tt.want)
			}
		}
	})

	t.Run("SearchUsers", func(t *testing.T) {
		s := fresh(t)
		// Names where LIKE would go wrong (% and _), multibyte ones, and the
		// neighbours of a prefix on both sides.
		names := []string{"gil", "gina", "ginb", "gin_x", "gin%", "ginny", "gio", "gh", "gİ", "gí", "g", "zoë", "zoe"}
		for _, n := range names {
			if err := s.CreateUser(ctx, user(n)); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			prefix, after string
			limit         int
			want          []string
		}{
			{"gin", "", 10, []string{"gin%", "gin_x", "gina", "ginb", "ginny"}},
			{"gin", "", 2, []string{"gin%", "gin_x"}},
			{"gin", "gin_x", 2, []string{"gina", "ginb"}},
			{"gin", "ginb", 10, []string{"ginny"}},
			{"gin", "ginny", 10, nil},
			{"gin_", "", 10, []string{"gin_x"}},
			{"gin%", "", 10, []string{"gin%"}},
			{"g", "gio", 10, []string{"gí", "gİ"}},
			{"gí", "", 10, []string{"gí"}},
			{"zo", "", 10, []string{"zoe", "zoë"}},
			{"", "", 3, []string{"g", "gh", "gil"}},
			{"", "zoe", 10, []string{"zoë"}},
			{"x", "", 10, nil},
			{"gin", "", 0, nil},
			{"gin", "", -1, nil},
		}
		for _, tt := range tests {
			got, err := s.SearchUsers(ctx, tt.prefix, tt.after, tt.limit)
			if err != nil {
				t.Fatalf("SearchUsers(%q, %q, %d): %v", tt.prefix, tt.after, tt.limit, err)
			}
			var gotNames []string
			for _, u := range got {
				gotNames = append(gotNames, u.Name)
				if u != user(u.Name) {
					t.Errorf("SearchUsers returned %+v, want %+v", u, user(u.Name))
				}
			}
			if !slices.Equal(gotNames, tt.want) {
				t.Errorf("SearchUsers(%q, %q, %d) = %q, want %q", tt.prefix, tt.after, tt.limit, gotNames, tt.want)
			}
		}

		// Paging through everything with "g" gives every such name once, in order.
		var paged []string
		after := ""
		for page := 0; page < 20; page++ {
			got, err := s.SearchUsers(ctx, "g", after, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				break
			}
			for _, u := range got {
				paged = append(paged, u.Name)
			}
			after = got[len(got)-1].Name
		}
		var want []string
		for _, n := range names {
			if n[0] == 'g' {
				want = append(want, n)
			}
		}
		slices.Sort(want) // Go sorts strings bytewise, as the stores must
		if !slices.Equal(paged, want) {
			t.Errorf("paging by 3 gave %q, want %q", paged, want)
		}
	})

	t.Run("SerialsUniqueAndIncreasing", func(t *testing.T) {
		s := fresh(t)
		const workers, each = 8, 25
		got := make([][]uint64, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for range each {
					n, err := s.NextSerial(ctx)
					if err != nil {
						t.Errorf("NextSerial: %v", err)
						return
					}
					got[w] = append(got[w], n)
				}
			})
		}
		wg.Wait()
		seen := map[uint64]bool{}
		for w, serials := range got {
			for i, n := range serials {
				if n == 0 {
					t.Errorf("worker %d got serial 0", w)
				}
				if seen[n] {
					t.Errorf("serial %d returned twice", n)
				}
				seen[n] = true
				if i > 0 && n <= serials[i-1] {
					t.Errorf("worker %d got serial %d after %d, want increasing", w, n, serials[i-1])
				}
			}
		}
		if len(seen) != workers*each {
			t.Errorf("got %d distinct serials, want %d", len(seen), workers*each)
		}
		last, err := s.NextSerial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for n := range seen {
			if last <= n {
				t.Errorf("serial after all others is %d, not above %d", last, n)
			}
		}
	})

	t.Run("Certificates", func(t *testing.T) {
		s := fresh(t)
		for _, n := range []string{"heidi", "ivan"} {
			if err := s.CreateUser(ctx, user(n)); err != nil {
				t.Fatal(err)
			}
		}
		now := t0.Add(10 * 24 * time.Hour)
		cert := func(user string, issuedDaysAgo, validDays int) Certificate {
			serial, err := s.NextSerial(ctx)
			if err != nil {
				t.Fatal(err)
			}
			issued := now.Add(-time.Duration(issuedDaysAgo) * 24 * time.Hour)
			return Certificate{
				Serial: serial, Username: user,
				PeerKey: []byte(fmt.Sprintf("key-%02d-%-25s", serial, user))[:32],
				Issued:  issued, Expires: issued.Add(time.Duration(validDays) * 24 * time.Hour),
				Raw: []byte{0, 1, 2, byte(serial), 0xff},
			}
		}
		old := cert("heidi", 9, 7)     // expired 2 days ago
		mid := cert("heidi", 5, 7)     // valid
		endsNow := cert("heidi", 7, 7) // expires exactly now: expired
		newest := cert("heidi", 1, 7)  // valid
		newer := cert("heidi", 3, 7)   // valid
		other := cert("ivan", 1, 7)    // someone else's
		for _, c := range []Certificate{old, mid, endsNow, newest, newer, other} {
			if err := s.AddCertificate(ctx, c); err != nil {
				t.Fatalf("AddCertificate(%d): %v", c.Serial, err)
			}
		}
		tests := []struct {
			user  string
			limit int
			want  []Certificate
		}{
			{"heidi", 10, []Certificate{newest, newer, mid}},
			{"heidi", 2, []Certificate{newest, newer}},
			{"ivan", 10, []Certificate{other}},
			{"nobody", 10, nil},
			{"heidi", 0, nil},
		}
		for _, tt := range tests {
			got, err := s.Certificates(ctx, tt.user, now, tt.limit)
			if err != nil {
				t.Fatalf("Certificates(%q): %v", tt.user, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Certificates(%q, limit %d) = %+v\nwant %+v", tt.user, tt.limit, got, tt.want)
			}
		}

		dup := newest
		dup.Username = "ivan"
		if err := s.AddCertificate(ctx, dup); err == nil {
			t.Error("AddCertificate with a used serial succeeded, want an error")
		}
		stray := cert("nobody", 1, 7)
		if err := s.AddCertificate(ctx, stray); !errors.Is(err, ErrNotFound) {
			t.Errorf("AddCertificate for an unknown user = %v, want ErrNotFound", err)
		}
	})

	t.Run("SightingsKeepLatestPerPeer", func(t *testing.T) {
		s := fresh(t)
		if err := s.CreateUser(ctx, user("judy")); err != nil {
			t.Fatal(err)
		}
		at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
		steps := []Sighting{
			{Username: "judy", PeerID: "12D3KooWA", Addrs: []string{"/ip4/127.0.0.1/tcp/7070"}, Seen: at(1)},
			{Username: "judy", PeerID: "12D3KooWB", Addrs: nil, Seen: at(2)},
			// A newer sighting of peer A replaces the first.
			{Username: "judy", PeerID: "12D3KooWA", Addrs: []string{"/ip4/127.0.0.1/udp/7070/quic-v1", "/ip6/::1/tcp/7070"}, SuperNode: true, Seen: at(3)},
			// An older one arriving late changes nothing.
			{Username: "judy", PeerID: "12D3KooWB", Addrs: []string{"/ip4/10.0.0.1/tcp/1"}, Seen: at(0)},
			{Username: "judy", PeerID: "12D3KooWC", Addrs: []string{"/dns4/example.org/tcp/7070"}, Seen: at(4)},
		}
		for i, sg := range steps {
			err := s.Seen(ctx, sg)
			if i == 3 {
				if !errors.Is(err, ErrStale) {
					t.Fatalf("Seen of an older sighting = %v, want ErrStale", err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("Seen(%+v): %v", sg, err)
			}
		}
		for i := range steps {
			steps[i].Expires = steps[i].Seen // zero Expires means Seen
		}
		if err := s.Seen(ctx, steps[4]); !errors.Is(err, ErrStale) {
			t.Errorf("Seen of the same sighting again (a replay) = %v, want ErrStale", err)
		}
		want := []Sighting{steps[4], steps[2], steps[1]}
		tests := []struct {
			since time.Time
			limit int
			want  []Sighting
		}{
			{at(0), 10, want},
			{at(0), 2, want[:2]},
			{at(3), 10, want[:2]},
			{at(5), 10, nil},
			{at(0), 0, nil},
		}
		for _, tt := range tests {
			got, err := s.Sightings(ctx, "judy", tt.since, tt.limit)
			if err != nil {
				t.Fatalf("Sightings: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Sightings(since %v, limit %d) =\n%+v\nwant\n%+v", tt.since, tt.limit, got, tt.want)
			}
		}
		if got, err := s.Sightings(ctx, "nobody", at(0), 10); err != nil || got != nil {
			t.Errorf("Sightings of an unknown user = %v, %v; want none", got, err)
		}
		err := s.Seen(ctx, Sighting{Username: "nobody", PeerID: "12D3KooWZ", Seen: at(1)})
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Seen for an unknown user = %v, want ErrNotFound", err)
		}
	})

	t.Run("UserPageMatchesSeparateReads", func(t *testing.T) {
		s := fresh(t)
		pager, ok := s.(UserPager)
		if !ok {
			t.Fatalf("%T does not implement UserPager", s)
		}
		for _, n := range []string{"pat", "pam", "pax"} {
			if err := s.CreateUser(ctx, user(n)); err != nil {
				t.Fatal(err)
			}
		}
		at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
		var serials []uint64
		for i := range 5 {
			serial, err := s.NextSerial(ctx)
			if err != nil {
				t.Fatal(err)
			}
			serials = append(serials, serial)
			// Two certificates share an issue time (ordered by serial).
			c := Certificate{Serial: serial, Username: "pat", PeerKey: bytes.Repeat([]byte{byte(i)}, 32), Issued: at(min(i, 3)), Expires: at(i + 10), Raw: []byte{byte(i), 7}}
			if err := s.AddCertificate(ctx, c); err != nil {
				t.Fatal(err)
			}
			sg := Sighting{Username: "pat", PeerID: fmt.Sprint("peer", i), Addrs: []string{fmt.Sprint("/ip4/127.0.0.1/tcp/", i+1)}, SuperNode: i%2 == 0,
				Source: fmt.Sprint("192.0.2.", i), Seen: at(i), Expires: at(i + 2)}
			if i == 4 {
				sg.Addrs = nil
			}
			if err := s.Seen(ctx, sg); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := s.RevokeCertificate(ctx, serials[1], at(1)); err != nil || !ok {
			t.Fatalf("revoke: %v %v", ok, err)
		}
		if err := s.MarkSuperNode(ctx, "pat", "peer3", at(3), []string{"/ip4/198.51.100.1/udp/4001/quic-v1"}); err != nil {
			t.Fatal(err)
		}
		// A disabled account's page still reads (the server refuses it).
		if err := s.SetDisabled(ctx, "pax", true); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			q    PageQuery
		}{
			{"pat", PageQuery{Now: at(9), CertLimit: 10, Since: at(1), SightingLimit: 10}},
			{"pat", PageQuery{Now: at(11), CertLimit: 10, Since: at(3), SightingLimit: 10}},
			{"pat", PageQuery{Now: at(0), CertLimit: 2, Since: at(0), SightingLimit: 1}},
			{"pat", PageQuery{Now: at(20), CertLimit: 10, Since: at(20), SightingLimit: 10}},
			{"pat", PageQuery{Now: at(0), CertLimit: 0, Since: at(0), SightingLimit: 0}},
			{"pam", PageQuery{Now: at(0), CertLimit: 10, Since: at(0), SightingLimit: 10}},
			{"pax", PageQuery{Now: at(0), CertLimit: 10, Since: at(0), SightingLimit: 10}},
			{"pat", PageQuery{Now: at(0), CertLimit: 1000, Since: at(0), SightingLimit: 1000}},
		}
		for _, tt := range tests {
			got, err := pager.UserPage(ctx, tt.name, tt.q)
			if err != nil {
				t.Fatalf("UserPage(%q, %+v): %v", tt.name, tt.q, err)
			}
			var want UserPage
			want.User, _ = s.User(ctx, tt.name)
			want.Certificates, _ = s.Certificates(ctx, tt.name, tt.q.Now, tt.q.CertLimit)
			want.Sightings, _ = s.Sightings(ctx, tt.name, tt.q.Since, tt.q.SightingLimit)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("UserPage(%q, %+v) =\n%+v\nwant\n%+v", tt.name, tt.q, got, want)
			}
		}
		if p := mustPage(t, pager, "pat", tests[0].q); len(p.Certificates) != 4 || len(p.Sightings) != 5 {
			t.Errorf("the first case should see four certificates (one of five revoked) and five sightings; the test is wrong: %+v", p)
		}
		if p := mustPage(t, pager, "pax", tests[0].q); !p.User.Disabled {
			t.Error("pax's page does not say the account is disabled")
		}
		for _, name := range []string{"nobody", "pa", "\xff"} {
			if _, err := pager.UserPage(ctx, name, tests[0].q); !errors.Is(err, ErrNotFound) {
				t.Errorf("UserPage(%q) = %v, want ErrNotFound", name, err)
			}
		}
	})

	t.Run("PruneSightings", func(t *testing.T) {
		s := fresh(t)
		if err := s.CreateUser(ctx, user("nora")); err != nil {
			t.Fatal(err)
		}
		at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
		for i, peer := range []string{"p1", "p2", "p3"} {
			if err := s.Seen(ctx, Sighting{Username: "nora", PeerID: peer, Seen: at(i + 1)}); err != nil {
				t.Fatal(err)
			}
		}
		p, ok := s.(SightingsPruner)
		if !ok {
			t.Fatalf("%T does not implement SightingsPruner", s)
		}
		tests := []struct {
			before    time.Time
			deleted   int64
			remaining []string
		}{
			{at(1), 0, []string{"p3", "p2", "p1"}}, // seen exactly at before: kept
			{at(2).Add(time.Microsecond), 2, []string{"p3"}},
			{at(2), 0, []string{"p3"}},
			{at(10), 1, nil},
		}
		for _, tt := range tests {
			n, err := p.PruneSightings(ctx, tt.before)
			if err != nil || n != tt.deleted {
				t.Errorf("PruneSightings(%v) = %d, %v; want %d", tt.before, n, err, tt.deleted)
			}
			got, err := s.Sightings(ctx, "nora", at(0), 10)
			if err != nil {
				t.Fatal(err)
			}
			var peers []string
			for _, sg := range got {
				peers = append(peers, sg.PeerID)
			}
			if !slices.Equal(peers, tt.remaining) {
				t.Errorf("after PruneSightings(%v) peers %q remain, want %q", tt.before, peers, tt.remaining)
			}
		}
	})

	t.Run("SetPasswordHash", func(t *testing.T) {
		s := fresh(t)
		if err := s.CreateUser(ctx, user("mallory")); err != nil {
			t.Fatal(err)
		}
		const upgraded = "$argon2id$v=19$m=131072,t=4,p=2$bmV3c2FsdA$upgraded"
		if err := s.SetPasswordHash(ctx, "mallory", upgraded); err != nil {
			t.Fatalf("SetPasswordHash: %v", err)
		}
		got, err := s.User(ctx, "mallory")
		want := user("mallory")
		want.PasswordHash = upgraded
		if err != nil || got != want {
			t.Errorf("after SetPasswordHash User = %+v, %v; want %+v", got, err, want)
		}
		if err := s.SetPasswordHash(ctx, "nobody", upgraded); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetPasswordHash of an unknown user = %v, want ErrNotFound", err)
		}
		if err := s.SetPasswordHash(ctx, "mallory", ""); err == nil {
			t.Error("SetPasswordHash with an empty hash succeeded, want an error")
		}
	})

	t.Run("UnknownUserNotFound", func(t *testing.T) {
		s := fresh(t)
		if err := s.CreateUser(ctx, user("niaj")); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"nobody", "nia", "niaj2", "NIAJ", ""} {
			if _, err := s.User(ctx, name); !errors.Is(err, ErrNotFound) {
				t.Errorf("User(%q) = %v, want ErrNotFound", name, err)
			}
		}
	})

	// Bytes a client can put in a URL: both stores answer them alike, and
	// never with a database error.
	t.Run("InvalidTextInNames", func(t *testing.T) {
		s := fresh(t)
		for _, n := range []string{"olga", "ol\u00e9"} {
			if err := s.CreateUser(ctx, user(n)); err != nil {
				t.Fatal(err)
			}
		}
		bad := []string{"\xff", "ol\xc3", "ol\x00ga", "\x00"}
		for _, name := range bad {
			if _, err := s.User(ctx, name); !errors.Is(err, ErrNotFound) {
				t.Errorf("User(%q) = %v, want ErrNotFound", name, err)
			}
			if err := s.SetPasswordHash(ctx, name, fakeHash); !errors.Is(err, ErrNotFound) {
				t.Errorf("SetPasswordHash(%q) = %v, want ErrNotFound", name, err)
			}
			if got, err := s.Certificates(ctx, name, t0, 10); err != nil || got != nil {
				t.Errorf("Certificates(%q) = %v, %v; want none", name, got, err)
			}
			if got, err := s.Sightings(ctx, name, t0, 10); err != nil || got != nil {
				t.Errorf("Sightings(%q) = %v, %v; want none", name, got, err)
			}
			if got, err := s.SearchUsers(ctx, name, "", 10); err != nil || got != nil {
				t.Errorf("SearchUsers(prefix %q) = %v, %v; want none", name, got, err)
			}
			if err := s.CreateUser(ctx, user(name)); err == nil || errors.Is(err, ErrNameTaken) {
				t.Errorf("CreateUser(%q) = %v, want an error about the name", name, err)
			}
			err := s.AddCertificate(ctx, Certificate{Serial: 1, Username: name, Issued: t0, Expires: t0})
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("AddCertificate for %q = %v, want ErrNotFound", name, err)
			}
			if err := s.Seen(ctx, Sighting{Username: name, PeerID: "p", Seen: t0}); !errors.Is(err, ErrNotFound) {
				t.Errorf("Seen for %q = %v, want ErrNotFound", name, err)
			}
			if err := s.Seen(ctx, Sighting{Username: "olga", PeerID: name, Seen: t0}); err == nil {
				t.Errorf("Seen with peer ID %q succeeded, want an error", name)
			}
			if err := s.Seen(ctx, Sighting{Username: "olga", PeerID: "p", Addrs: []string{name}, Seen: t0}); err == nil {
				t.Errorf("Seen with address %q succeeded, want an error", name)
			}
		}
		taken, err := s.Taken(ctx, append([]string{"olga"}, bad...))
		if err != nil {
			t.Fatalf("Taken: %v", err)
		}
		want := map[string]bool{"olga": true}
		for _, n := range bad {
			want[n] = false
		}
		if !reflect.DeepEqual(taken, want) {
			t.Errorf("Taken = %v, want %v", taken, want)
		}
		got, err := s.SearchUsers(ctx, "ol", "olg\xff", 10)
		if err != nil {
			t.Fatalf("SearchUsers with an invalid after: %v", err)
		}
		if len(got) == 0 || got[len(got)-1].Name != "ol\u00e9" {
			t.Errorf("SearchUsers(\"ol\", after \"olg\\xff\") = %v, want it to end with ol\u00e9", got)
		}
	})

	t.Run("ReopenKeepsData", func(t *testing.T) {
		dsn := b.newDSN(t)
		s, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, user("olivia")); err != nil {
			t.Fatal(err)
		}
		serial, err := s.NextSerial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		s = openStore(t, dsn)
		if got, err := s.User(ctx, "olivia"); err != nil || got != user("olivia") {
			t.Errorf("after reopening User = %+v, %v; want %+v", got, err, user("olivia"))
		}
		if next, err := s.NextSerial(ctx); err != nil || next <= serial {
			t.Errorf("after reopening NextSerial = %d, %v; want above %d", next, err, serial)
		}
	})

	t.Run("ConcurrentOpensMigrateOnce", func(t *testing.T) {
		dsn := b.newDSN(t)
		const n = 4
		stores := make([]Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { stores[i], errs[i] = Open(ctx, dsn) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Errorf("Open %d: %v", i, errs[i])
				continue
			}
			t.Cleanup(func() { stores[i].Close() })
		}
		if t.Failed() {
			return
		}
		if err := stores[0].CreateUser(ctx, user("peggy")); err != nil {
			t.Fatal(err)
		}
		if _, err := stores[n-1].User(ctx, "peggy"); err != nil {
			t.Errorf("a user created through one store is not visible through another: %v", err)
		}
	})
}

func mustPage(t *testing.T, p UserPager, name string, q PageQuery) UserPage {
	t.Helper()
	page, err := p.UserPage(context.Background(), name, q)
	if err != nil {
		t.Fatalf("UserPage(%q): %v", name, err)
	}
	return page
}
